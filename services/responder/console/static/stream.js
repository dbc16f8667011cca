// The events stream read with fetch(), so the token stays in a header, out of URLs and logs
// (EventSource cannot send one); the server-sent events are parsed here, and a dropped or
// stalled stream is connected again after a growing, jittered delay.

const STALL_MS = 45_000; // the stream sends at least a comment every 15 s

// Follows GET /v1/agent/events until `session` is aborted: each `snapshot` goes to
// `onSnapshot`, the link's state to `onLink`; a refused token ends it through `onRefused`.
export async function follow(session, { token, onSnapshot, onLink, onRefused }) {
  let attempt = 0;
  while (!session.signal.aborted) {
    const connection = new AbortController();
    const stop = () => connection.abort();
    session.signal.addEventListener("abort", stop);
    let stall = setTimeout(stop, STALL_MS);
    try {
      const response = await fetch("/v1/agent/events", {
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
        signal: connection.signal, cache: "no-store",
      });
      if (response.status === 401) { onRefused(); return; }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      onLink("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(stall);
        stall = setTimeout(stop, STALL_MS);
        attempt = 0;
        buffer = (buffer + value).replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end), onSnapshot);
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      if (session.signal.aborted) return;
    } finally {
      clearTimeout(stall);
      session.signal.removeEventListener("abort", stop);
    }
    if (session.signal.aborted) return;
    onLink("reconnecting");
    const backoff = Math.min(30_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    await pause(backoff, session.signal);
  }
}

function dispatch(block, onSnapshot) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (event === "snapshot" && data.length) onSnapshot(JSON.parse(data.join("\n")));
}

export const pause = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});
