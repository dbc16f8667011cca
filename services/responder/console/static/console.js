// The agent console: the agent API read through its events stream, acted on with plain calls.
// Every text from the API goes into the page as text (textContent), never as markup.

import { clockBadge, clockTime, counting, paintCountdowns, serverNow, syncWith } from "./clocks.js";
import { fanName, fanProfile, latestReplyClock, renderMessages } from "./conversation.js";
import { $, el } from "./dom.js";
import { follow, pause } from "./stream.js";

const TOKEN_KEY = "responder.agentToken";
const HEARTBEAT_MS = 10_000;
const SNOOZE_MS = 3_600_000;

const state = {
  token: null,
  presence: "online",
  view: null,
  selectedId: null,
  detail: null,
  session: null, // AbortController of the signed-in session: sign-out stops everything
};

// ---- the API

class ApiError extends Error {
  constructor(status, detail) { super(detail || `HTTP ${status}`); this.status = status; }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
  });
  if (response.status === 401) { signOut("The token was refused: sign in again."); throw new ApiError(401); }
  if (!response.ok) {
    const detail = await response.json().then((b) => (typeof b.detail === "string" ? b.detail : null), () => null);
    throw new ApiError(response.status, detail);
  }
  return response.status === 204 ? null : response.json();
}

function tick() {
  const now = paintCountdowns();
  if (state.view) $("server-time").textContent = `${new Date(now).toISOString().slice(11, 19)} UTC`;
}

function setLink(linkState) {
  const link = $("link");
  link.dataset.state = linkState;
  link.textContent = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…" }[linkState];
}

// ---- the snapshot: work list, offers, and the open conversation

function showSnapshot(view) {
  syncWith(view.now);
  state.view = view;
  $("agent-name").textContent = `${view.agent.name} (${view.agent.id})`;
  if (document.activeElement !== $("presence") && view.agent.presence !== "offline") {
    $("presence").value = view.agent.presence;
    state.presence = view.agent.presence;
  }
  const mine = view.conversations.filter((c) => c.assignee_id === view.agent.id);
  const team = view.conversations.filter((c) => c.assignee_id !== view.agent.id);
  keepingFocus(() => {
    renderOffers(view.offers);
    renderItems("mine", mine);
    renderItems("team", team);
    renderItems("queue", view.queue);
  });
  // An offer waiting shows in the tab's title too, for an agent looking at another tab.
  document.title = view.offers.length ? `(${view.offers.length}) Offer · Responder console` : "Responder console";
  if (state.selectedId) refreshDetail();
  tick();
}

function keepingFocus(render) {
  const focused = document.activeElement?.closest?.("[data-focus-key]")?.dataset.focusKey;
  render();
  if (focused) document.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
}

function renderOffers(offers) {
  $("offers-count").textContent = offers.length ? `(${offers.length})` : "";
  $("offers").replaceChildren(...offers.map((offer) => {
    const c = offer.conversation;
    const name = fanName(c);
    return el("li", { "data-offer-id": offer.id, "aria-label": `Offer: ${name}` },
      el("div", { class: "row" },
        el("strong", { class: "who" }, name),
        el("span", { class: "badge" }, c.platform),
        el("span", { class: "spacer" }),
        clockBadge(c.clock, `Reply clock of ${name}`)),
      el("div", { class: "sub" },
        el("span", { class: "expires", "data-expires": offer.expires_at, role: "timer" }),
        c.fan ? el("span", {}, `priority ${c.fan.priority}`) : null),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "primary", "data-focus-key": `accept:${offer.id}`,
          onclick: () => accept(offer) }, "Accept ", el("kbd", {}, "a")),
        el("button", { type: "button", "data-focus-key": `decline:${offer.id}`,
          onclick: () => decline(offer) }, "Decline ", el("kbd", {}, "d")),
        el("button", { type: "button", "data-focus-key": `preview:${offer.id}`,
          onclick: () => select(c.id) }, "Preview")));
  }));
}

function renderItems(listId, conversations) {
  $(`${listId}-count`).textContent = conversations.length ? `(${conversations.length})` : "";
  $(listId).replaceChildren(...conversations.map((c) => {
    const name = fanName(c);
    return el("li", { "data-conversation-id": c.id },
      el("button", { type: "button", "data-focus-key": `item:${c.id}`,
        "aria-current": c.id === state.selectedId ? "true" : "false", onclick: () => select(c.id) },
        el("span", { class: "who" }, name),
        clockBadge(c.clock, `Reply clock of ${name}`),
        el("span", { class: "sub" },
          el("span", { class: "badge" }, c.platform),
          el("span", {}, c.status),
          c.unanswered_count ? el("span", {}, `${c.unanswered_count} unanswered`) : null,
          c.assignee_id && listId === "team" ? el("span", {}, `with ${c.assignee_id}`) : null,
          c.delivery_failed ? el("span", { class: "badge failed" }, "undelivered") : null,
          c.fan ? el("span", {}, `P${c.fan.priority}`) : null)));
  }));
}

function findConversation(id) {
  const view = state.view;
  if (!view) return null;
  return [...view.conversations, ...view.queue, ...view.offers.map((o) => o.conversation)]
    .find((c) => c.id === id) ?? null;
}

// ---- the open conversation

async function select(id) {
  state.selectedId = id;
  for (const button of document.querySelectorAll(".items button[aria-current]")) {
    button.setAttribute("aria-current", String(button.dataset.focusKey === `item:${id}`));
  }
  await refreshDetail();
}

let detailRequest = 0;
async function refreshDetail() {
  const id = state.selectedId;
  const request = ++detailRequest;
  try {
    const detail = await api("GET", `/v1/agent/conversations/${encodeURIComponent(id)}`);
    if (request === detailRequest) showDetail(detail);
  } catch (error) {
    if (request === detailRequest && error.status === 404) {
      state.selectedId = null;
      showDetail(null);
    }
  }
}

function showDetail(detail) {
  state.detail = detail;
  $("reply-form").hidden = !detail;
  if (!detail) {
    $("thread-title").textContent = "No conversation selected";
    $("thread-meta").textContent = "";
    $("messages").replaceChildren();
    counting($("thread-clock"), null);
    $("fan-body").replaceChildren(el("p", { class: "muted" }, "Select a conversation."));
    return;
  }
  const name = fanName(detail);
  $("thread-title").textContent = name;
  $("thread-meta").textContent = [detail.platform, detail.account, detail.status,
    detail.assignee_id ? `held by ${detail.assignee_id}` : "not held",
    detail.snoozed_until ? `snoozed until ${clockTime(detail.snoozed_until)}` : null]
    .filter(Boolean).join(" · ");
  const fromView = findConversation(detail.id);
  const clock = fromView?.clock ?? latestReplyClock(detail.clocks);
  $("thread-clock").setAttribute("aria-label", `Reply clock of ${name}`);
  counting($("thread-clock"), clock);
  $("resolve").hidden = detail.status === "resolved";
  $("snooze").hidden = detail.status === "resolved";
  $("reopen").hidden = detail.status !== "resolved" && detail.status !== "snoozed";
  renderMessages($("messages"), detail.messages, detail.id);
  $("fan-body").replaceChildren(...fanProfile(detail));
}

// ---- what the agent does

async function accept(offer) {
  try {
    const taken = await api("POST", `/v1/agent/offers/${encodeURIComponent(offer.id)}/accept`);
    await select(taken.id);
    $("reply-text").focus();
  } catch (error) {
    if (error.status === 409) note("That offer lapsed or was taken.");
  }
}

async function decline(offer) {
  await api("POST", `/v1/agent/offers/${encodeURIComponent(offer.id)}/decline`).catch(() => {});
}

async function claimNext() {
  try {
    const claimed = await api("POST", "/v1/agent/claim-next");
    if (claimed) {
      note("");
      await select(claimed.id);
      $("reply-text").focus();
    } else {
      note("Nothing you can take right now.");
    }
  } catch (error) {
    note(error.status === 409 ? "Go online to claim." : error.message);
  }
}

function note(text) { $("claim-note").textContent = text; }

async function act(path, body) {
  const id = state.selectedId;
  if (!id) return;
  $("reply-error").textContent = "";
  try {
    await api("POST", `/v1/agent/conversations/${encodeURIComponent(id)}/${path}`, body);
    await refreshDetail();
  } catch (error) {
    $("reply-error").textContent = error.message;
  }
}

async function sendReply(event) {
  event?.preventDefault();
  const box = $("reply-text");
  const text = box.value.trim();
  if (!text || !state.selectedId) return;
  box.value = "";
  const before = $("reply-error").textContent;
  await act("replies", { text, reply_id: crypto.randomUUID() });
  if ($("reply-error").textContent !== before && $("reply-error").textContent) box.value = text;
}

// ---- keys

function moveSelection(step) {
  const ids = [...document.querySelectorAll(".items [data-conversation-id]")].map((li) => li.dataset.conversationId);
  if (!ids.length) return;
  const at = ids.indexOf(state.selectedId);
  const next = ids[Math.max(0, Math.min(ids.length - 1, at < 0 ? 0 : at + step))];
  select(next);
  document.querySelector(`[data-focus-key="item:${CSS.escape(next)}"]`)?.focus();
}

function onKey(event) {
  if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  const first = state.view?.offers[0];
  const actions = {
    j: () => moveSelection(1), k: () => moveSelection(-1), n: claimNext,
    r: () => $("reply-text").focus(),
    a: () => first && accept(first), d: () => first && decline(first),
  };
  const action = actions[event.key];
  if (action && !$("console").hidden) { event.preventDefault(); action(); }
}

function onReplyKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) sendReply(event);
  if (event.key === "Escape") event.target.blur();
}

// ---- signing in and out

const heartbeat = () => api("POST", "/v1/agent/heartbeat", { presence: state.presence });

async function heartbeats(session) {
  for (;;) {
    await pause(HEARTBEAT_MS, session.signal);
    if (session.signal.aborted) return;
    await heartbeat().catch(() => {});
  }
}

async function signIn(token) {
  Object.assign(state, { token, presence: "online" });
  $("presence").value = "online";
  const agent = await api("GET", "/v1/agent/me");
  // Online before the console shows: a claim made at once is not refused as away.
  await heartbeat();
  sessionStorage.setItem(TOKEN_KEY, token);
  state.session = new AbortController();
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("agent-name").textContent = `${agent.name} (${agent.id})`;
  setLink("connecting");
  heartbeats(state.session);
  follow(state.session, {
    token, onSnapshot: showSnapshot, onLink: setLink,
    onRefused: () => signOut("The token was refused: sign in again."),
  });
}

function signOut(reason = "") {
  state.session?.abort();
  if (!reason && state.token) {
    // Signing out is stepping away: no more offers until the agent is back.
    fetch("/v1/agent/heartbeat", { method: "POST", keepalive: true, body: '{"presence":"away"}',
      headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" } })
      .catch(() => {});
  }
  Object.assign(state, { token: null, session: null, view: null, selectedId: null, detail: null });
  sessionStorage.removeItem(TOKEN_KEY);
  document.title = "Responder console";
  showDetail(null);
  $("console").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = reason;
  $("token").value = "";
  $("token").focus();
}

function start() {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    $("sign-in-error").textContent = "";
    try { await signIn(token); } catch (error) {
      if (error.status !== 401) $("sign-in-error").textContent = `Could not sign in: ${error.message}`;
    }
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("presence").addEventListener("change", (event) => {
    state.presence = event.target.value;
    heartbeat().catch(() => {});
  });
  $("claim-next").addEventListener("click", claimNext);
  $("reply-form").addEventListener("submit", sendReply);
  $("reply-text").addEventListener("keydown", onReplyKey);
  $("resolve").addEventListener("click", () => act("resolve"));
  $("reopen").addEventListener("click", () => act("reopen"));
  $("snooze").addEventListener("click", () =>
    act("snooze", { until: new Date(serverNow() + SNOOZE_MS).toISOString() }));
  document.addEventListener("keydown", onKey);
  setInterval(tick, 1000);
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) signIn(kept).catch(() => signOut());
  else $("token").focus();
}

start();
