// The claim page: reads the packet through the signed link in this page's address and claims
// with it. Everything shown is set as text (never as HTML), so no name can inject markup.

const MESSAGES = {
  campaign_ended: "This campaign has ended: its red packets can no longer be opened.",
  window_closed: "Time is up: this red packet can no longer be opened.",
  own_packet: "This is your own red packet. Share it with friends: they open it, not you.",
  linked_identity: "This red packet was shared from another of your accounts.",
  same_phone: "This red packet was shared from an account with your phone number.",
  same_device: "This red packet was shared from this device.",
  not_new_customer: "This red packet is a welcome gift for new customers, and you have ordered with us before.",
  daily_cap_reached: "You have opened today's limit of red packets from this campaign. Try again tomorrow.",
  packet_empty: "Too late: every share of this red packet has been claimed.",
  link_expired: "This link has expired. Open the shared link again.",
  link_forged: "This link is not valid. Open the shared link again.",
  link_malformed: "This link is damaged. Open the shared link again.",
  no_packet: "There is no such red packet.",
  page_off: "Red packets cannot be opened here at the moment.",
};
const UNREACHABLE = "Could not reach the server. Check your connection and try again.";

const code = decodeURIComponent(location.pathname.split("/").pop());
const base = `/p/${encodeURIComponent(code)}`;
const $ = (name) => document.querySelector(`[data-${name}]`);

function money(cents, currency) {
  return new Intl.NumberFormat(undefined, { style: "currency", currency, currencyDisplay: "narrowSymbol" }).format(cents / 100);
}

function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function friendRow(friend, currency) {
  const row = element("li", friend.you ? "friend you" : "friend");
  const who = element("div", "who");
  who.append(element("span", "name", friend.you ? `${friend.name} (you)` : friend.name));
  who.append(element("time", "at", when(friend.claimed_at)));
  const what = element("div", "what");
  what.append(element("span", "share", money(friend.amount_cents, currency)));
  if (friend.best_luck) what.append(element("span", "best-luck", "★ Best luck"));
  row.append(who, what);
  return row;
}

function showFriends(view) {
  const claimed = view.friends.length;
  $("summary").textContent = `${claimed}/${view.shares} opened · ` +
    `${money(view.claimed_cents, view.currency)}/${money(view.total_cents, view.currency)}`;
  $("friends").replaceChildren(...view.friends.map((friend) => friendRow(friend, view.currency)));
}

function showYours(view) {
  const yours = view.yours;
  $("won").hidden = false;
  $("open").hidden = true;
  $("amount").textContent = money(yours.amount_cents, view.currency);
  $("coupon").textContent = yours.coupon_code;
  const minimum = yours.coupon_min_spend_cents
    ? `on orders of ${money(yours.coupon_min_spend_cents, view.currency)} or more, ` : "";
  $("coupon-terms").textContent = `Use it at checkout ${minimum}until ${when(yours.coupon_expires_at)}.`;
}

function showRefusal(code, message) {
  const refusal = $("refusal");
  refusal.textContent = MESSAGES[code] || message || UNREACHABLE;
  refusal.dataset.code = code || "unreachable";
  refusal.hidden = false;
  $("open").hidden = Boolean(code);  // a network failure may be tried again
}

function show(view) {
  const initial = view.owner.slice(0, 1).toUpperCase();
  $("owner").textContent = view.owner;
  $("owner-initial").textContent = initial;
  $("window").textContent = view.open
    ? `Open it by ${when(view.claim_ends_at)}` : `Closed on ${when(view.claim_ends_at)}`;
  showFriends(view);
  if (view.yours) showYours(view);
  else if (!view.open) showRefusal("window_closed");
  else $("open").hidden = false;
  document.querySelector("main").setAttribute("aria-busy", "false");
}

async function call(path, method) {
  try {
    const answer = await fetch(`${base}${path}${location.search}`, {
      method, headers: { accept: "application/json" }, cache: "no-store",
    });
    const body = await answer.json().catch(() => ({}));
    return { ok: answer.ok, body };
  } catch {
    return { ok: false, body: {} };
  }
}

function refuse(body) {
  const detail = typeof body.detail === "object" && body.detail ? body.detail : {};
  showRefusal(detail.code, detail.message);
}

async function claim() {
  const button = $("open");
  button.disabled = true;
  button.classList.add("spinning");
  const answer = await call("/claims", "POST");
  button.classList.remove("spinning");
  button.disabled = false;
  if (answer.ok) show(answer.body);
  else refuse(answer.body);
}

async function load() {
  const answer = await call("/view", "GET");
  if (answer.ok) show(answer.body);
  else refuse(answer.body);
}

$("open").addEventListener("click", claim);
load();
