// One conversation drawn: its messages with their delivery, and the fan's profile.

import { clockTime } from "./clocks.js";
import { el } from "./dom.js";

export function fanName(conversation) {
  const parts = conversation.fan_key.split(":");
  return parts[parts.length - 1] || conversation.fan_key;
}

export function latestReplyClock(all) {
  const reply = all.filter((c) => c.target !== "resolution");
  return reply.length ? reply[reply.length - 1] : null;
}

export function renderMessages(list, messages, conversationId) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...messages.map((m) => el("li", { class: m.direction, "data-ref": m.ref },
    m.text ?? `[${m.message_type ?? "message"}]`,
    el("span", { class: "meta" },
      m.direction === "in" ? "fan" : (m.agent_id ?? "agent"), " · ", clockTime(m.at),
      m.direction === "out" ? [" · ", deliveryNote(m)] : null))));
  if (atBottom || list.dataset.for !== conversationId) list.scrollTop = list.scrollHeight;
  list.dataset.for = conversationId;
}

function deliveryNote(message) {
  const text = { requested: "sending", delivered: "delivered", failed: "not delivered" }[message.delivery] ?? "";
  return el("span", { class: `delivery ${message.delivery ?? ""}`, "data-delivery": message.delivery ?? "",
    title: message.delivery_error ?? "" }, message.delivery === "failed" && message.delivery_error
    ? `${text}: ${message.delivery_error}` : text);
}

// What scoring says of the fan, as a definition list.
export function fanProfile(detail) {
  const fan = detail.fan;
  const rows = [["Fan", detail.fan_key]];
  const body = [];
  if (fan) {
    const bar = el("div", { class: "priority-bar", role: "meter", "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": fan.priority, "aria-label": "Priority" }, el("span"));
    bar.firstChild.style.width = `${Math.max(0, Math.min(100, fan.priority))}%`;
    rows.push(["Priority", [String(fan.priority), bar]], ["Tier", fan.tier], ["Role", fan.role]);
    if (fan.person_key) rows.push(["Person", fan.person_key]);
    rows.push(["Tags", fan.tags.length
      ? el("ul", { class: "tags", "aria-label": "Tags" }, fan.tags.map((t) => el("li", {}, t)))
      : el("span", { class: "muted" }, "none")]);
  }
  rows.push(["Waiting since", detail.awaiting_since ? clockTime(detail.awaiting_since) : "—"],
    ["Opened", clockTime(detail.opened_at)]);
  body.push(el("dl", {}, rows.map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)])));
  if (!fan) body.push(el("p", { class: "muted" }, "Scoring has not profiled this fan yet."));
  return body;
}
