// The dashboard's behaviour: the caller's token, the writes (sent to the v2 API exactly as
// the CLI sends them), and the statistics chart. htmx does the reading and the polling.
"use strict";

const body = document.body;
const API_ROOT = body.dataset.apiRoot || "";
const AUTH_REQUIRED = body.dataset.authRequired === "true";
const TOKEN_KEY = "ostia.dashboard.token";
const CHART_SAMPLES = 60;  // two minutes at the page's poll interval

// --- who is calling -----------------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// htmx polls only while someone looks (a signed-in caller, a tab in view) and, for a
// panel, not before twice its last answer's time has passed: a big tree that takes the API
// a second to read is polled every two, never back to back.
window.ostiaReady = (panel) => (!AUTH_REQUIRED || Boolean(token())) && !document.hidden
  && !(panel && performance.now() < Number(panel.dataset.nextPoll || 0));

document.addEventListener("htmx:beforeRequest", (event) => {
  event.detail.elt.dataset.requestedAt = performance.now();
});

document.addEventListener("htmx:afterRequest", (event) => {
  const panel = event.detail.elt;
  const took = performance.now() - Number(panel.dataset.requestedAt);
  panel.dataset.nextPoll = performance.now() + 2 * took;
});

function refresh() {
  htmx.trigger(body, "ostia:refresh");
}

function signIn(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  const dialog = document.getElementById("sign-in");
  const error = document.getElementById("sign-in-error");
  error.hidden = !message;
  error.textContent = message || "";
  if (!dialog.open) dialog.showModal();
}

async function submitSignIn(form) {
  const fields = Object.fromEntries(new FormData(form));
  let value = fields.token.trim();
  if (!value) {
    const response = await fetch(`${API_ROOT}/dashboard/login`, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify({username: fields.username, password: fields.password,
                            project: fields.project, domain: fields.domain}),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) return signIn(answer.faultstring || `Sign-in failed (${response.status}).`);
    value = answer.token;
  }
  sessionStorage.setItem(TOKEN_KEY, value);
  form.reset();
  document.getElementById("sign-in").close();
  htmx.trigger(body, "ostia:subnets");
  refresh();
}

document.addEventListener("htmx:configRequest", (event) => {
  if (token()) event.detail.headers["X-Auth-Token"] = token();
});

document.addEventListener("htmx:responseError", (event) => {
  if (event.detail.xhr.status === 401) signIn("Your token was refused or has expired.");
});

// --- writes: the v2 API, from the browser ----------------------------------------------------

function notify(text, kind) {
  // An open dialog hides the page behind it: its own line says what went wrong.
  const formError = document.querySelector("dialog[open] .form-error");
  if (formError) {
    formError.textContent = kind === "error" ? text : "";
    formError.hidden = kind !== "error";
  }
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.className = kind;
  notice.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { notice.hidden = true; }, kind === "error" ? 15000 : 5000);
}

async function v2(method, path, payload, done) {
  const headers = {"Accept": "application/json"};
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  if (token()) headers["X-Auth-Token"] = token();
  const response = await fetch(`${API_ROOT}/v2/lbaas${path}`, {
    method, headers, body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  if (response.status === 401 && AUTH_REQUIRED) {
    signIn("Your token was refused or has expired.");
    return false;
  }
  if (!response.ok) {
    const fault = await response.json().catch(() => ({}));
    notify(fault.faultstring || `${method} ${path} answered ${response.status}`, "error");
    return false;
  }
  notify(done, "ok");
  refresh();
  return true;
}

// "127.0.0.1:8080" or "[2001:db8::1]:80"; anything else is left for the API to refuse.
function parseMember(line) {
  const at = line.lastIndexOf(":");
  const address = at < 0 ? line : line.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  return {address, protocol_port: at < 0 ? null : Number(line.slice(at + 1))};
}

function loadBalancerGraph(form) {
  const f = Object.fromEntries(new FormData(form));
  const pool = {
    name: `${f.name}-pool`, protocol: f.protocol, lb_algorithm: f.lb_algorithm,
    members: f.members.split(/\s+/).filter(Boolean).map(parseMember),
  };
  if (f.monitor) {
    pool.healthmonitor = {
      type: f.protocol, delay: Number(f.delay), timeout: Number(f.timeout),
      max_retries: 1, max_retries_down: Number(f.max_retries_down),
    };
  }
  return {loadbalancer: {
    name: f.name, vip_subnet_id: f.vip_subnet_id,
    listeners: [{name: `${f.name}-${f.protocol.toLowerCase()}-${f.protocol_port}`,
                 protocol: f.protocol, protocol_port: Number(f.protocol_port),
                 default_pool: pool}],
  }};
}

const ACTIONS = {
  "open-create": () => {
    document.querySelector("#create-lb .form-error").hidden = true;
    htmx.trigger(body, "ostia:subnets");
    document.getElementById("create-lb").showModal();
  },
  "close-dialog": (data, button) => button.closest("dialog").close(),
  "sign-out": () => signIn(),
  "failover-lb": (d) => v2("PUT", `/loadbalancers/${d.lb}/failover`, undefined,
                           "Failover requested."),
  "delete-lb": (d) => confirm(`Delete load balancer ${d.name} and everything in it?`)
    && v2("DELETE", `/loadbalancers/${d.lb}?cascade=true`, undefined, `Deleting ${d.name}.`),
  "add-member": (d) => {
    const form = document.getElementById("add-member-form");
    form.reset();
    form.querySelector(".form-error").hidden = true;
    form.elements.pool_id.value = d.pool;
    document.getElementById("add-member").showModal();
  },
  "toggle-member": (d) => {
    const enable = d.enabled !== "true";
    return v2("PUT", `/pools/${d.pool}/members/${d.member}`, {member: {admin_state_up: enable}},
              enable ? "Member enabled." : "Member disabled.");
  },
  "remove-member": (d) => confirm(`Remove member ${d.name}?`)
    && v2("DELETE", `/pools/${d.pool}/members/${d.member}`, undefined, `Removing ${d.name}.`),
};

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) ACTIONS[button.dataset.action](button.dataset, button);
});

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (form.id === "sign-in-form") {
    event.preventDefault();
    await submitSignIn(form);
  } else if (form.id === "create-lb-form") {
    event.preventDefault();
    const graph = loadBalancerGraph(form);
    if (await v2("POST", "/loadbalancers", graph, `Creating ${graph.loadbalancer.name}.`)) {
      form.closest("dialog").close();
    }
  } else if (form.id === "add-member-form") {
    event.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    const member = {address: f.address, protocol_port: Number(f.protocol_port),
                    weight: Number(f.weight)};
    if (await v2("POST", `/pools/${f.pool_id}/members`, {member}, "Adding member.")) {
      form.closest("dialog").close();
    }
  }
});

// --- statistics over time --------------------------------------------------------------------

// Samples live in the page (per load balancer) and survive each swap of the tree.
const history = new Map();

function recordAndDraw(element) {
  const now = performance.now() / 1000;
  const samples = history.get(element.dataset.lb) || [];
  samples.push({t: now, total: Number(element.dataset.total)});
  if (samples.length > CHART_SAMPLES) samples.shift();
  history.set(element.dataset.lb, samples);
  const rates = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i].t - samples[i - 1].t;
    rates.push(dt > 0 ? Math.max(0, samples[i].total - samples[i - 1].total) / dt : 0);
  }
  const peak = Math.max(0, ...rates);
  const top = Math.max(1, peak);
  const step = 240 / (CHART_SAMPLES - 1);
  // The newest sample sits at the right edge; older ones scroll off to the left.
  const points = rates.map((rate, i) => {
    const x = 240 - (rates.length - 1 - i) * step;
    return `${x.toFixed(1)},${(38 - 36 * rate / top).toFixed(1)}`;
  });
  element.querySelector("polyline").setAttribute("points", points.join(" "));
  const last = rates.length ? rates[rates.length - 1] : 0;
  element.querySelector(".chart-label").textContent =
    `${last.toFixed(1)} connections/s (peak ${peak.toFixed(1)})`;
}

document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.target.id === "tree") {
    event.detail.target.querySelectorAll(".stats").forEach(recordAndDraw);
    document.getElementById("live").dataset.at = new Date().toLocaleTimeString();
  }
});

// --- start --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  if (AUTH_REQUIRED && !token()) signIn();
  else refresh();
});
