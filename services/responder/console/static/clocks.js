// Reply clocks as the console shows them: a colour (data-state) and a countdown, ticking in
// responder's time.

import { el } from "./dom.js";

let offsetMs = 0; // responder's clock minus this browser's: responder may run a simulated clock

// Called with each snapshot's `now`: the countdowns follow responder's time, not the browser's.
export function syncWith(responderNow) {
  offsetMs = Date.parse(responderNow) - Date.now();
}

export const serverNow = () => Date.now() + offsetMs;

export function duration(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

export const clockTime = (iso) =>
  new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });

// What a reply clock shows now: its state (the colour) and a short text.
export function clockFace(clock, now) {
  if (!clock) return { state: "none", text: "" };
  const seconds = (s) => duration((s ?? 0) * 1000);
  switch (clock.outcome) {
    case "met": return { state: "met", text: `met in ${seconds(clock.latency_seconds)}` };
    case "late": return { state: "late", text: `late, answered in ${seconds(clock.latency_seconds)}` };
    case "cancelled": return { state: "cancelled", text: "no reply due" };
  }
  if (clock.paused_since) return { state: "paused", text: "paused" };
  const deadline = clock.deadline ? Date.parse(clock.deadline) : null;
  if (clock.breached || (deadline !== null && now >= deadline)) {
    return { state: "breached", text: deadline === null ? "late" : `${duration(now - deadline)} late` };
  }
  if (deadline === null) return { state: "paused", text: "paused" };
  const warning = clock.warning_at ? Date.parse(clock.warning_at) : deadline;
  return { state: now >= warning ? "risk" : "ok", text: `${duration(deadline - now)} left` };
}

const clocks = new Map(); // a countdown element -> the clock it counts down

export function clockBadge(clock, label) {
  return counting(el("span", { class: "clock", role: "timer", "aria-label": label }), clock);
}

// `badge` counts `clock` down from now on (none: shows nothing).
export function counting(badge, clock) {
  clocks.set(badge, clock);
  paintClock(badge, clock, serverNow());
  return badge;
}

function paintClock(badge, clock, now) {
  const face = clockFace(clock, now);
  badge.dataset.state = face.state;
  badge.textContent = face.text;
  badge.title = { ok: "on time", risk: "at risk", breached: "breached", late: "answered late",
    met: "answered in time", paused: "paused", cancelled: "", none: "" }[face.state];
}

// Repaints every countdown on the page, and each offer's time left to answer.
export function paintCountdowns() {
  const now = serverNow();
  for (const [badge, clock] of clocks) {
    if (!badge.isConnected) clocks.delete(badge);
    else paintClock(badge, clock, now);
  }
  for (const node of document.querySelectorAll("[data-expires]")) {
    node.textContent = `${duration(Date.parse(node.dataset.expires) - now)} to answer`;
  }
  return now;
}
