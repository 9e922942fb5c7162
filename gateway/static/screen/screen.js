// The command center's wall: figures from /api/v1/screen/stream (server-sent events), read with
// fetch so the key or token travels in a header and never in a URL. Credentials live in
// sessionStorage only: closing the kiosk's window signs it out.
"use strict";

const LABELS = {
  risk: { "1": "一般", "2": "较大", "3": "重大" },
  level: { city: "市级", county: "县级", township: "乡镇级", village: "村级", grid: "网格" },
  category: { marriage_family: "婚姻家庭", neighbor: "邻里纠纷", property_mgmt: "物业纠纷", labor_wage: "劳动争议、欠薪",
    medical: "医疗纠纷", traffic: "交通事故", land: "土地草场", consumer: "消费纠纷", finance: "民间借贷、金融纠纷",
    campus: "校园纠纷", environment: "环境污染", social_security: "社保救助", public_safety: "治安", other: "其他" },
  channel: { hotline_12345: "12345热线", police_110: "110警情", petition: "信访", court: "法院诉前委派",
    grid: "网格上报", walk_in: "窗口来访", open311: "Open311" },
};
const RISK_COLORS = { "1": "#36a3f7", "2": "#ffa940", "3": "#ff4d4f" };
const AUTH = "fq.screen.auth";
const TEXT = { color: "#d8e6ff", fontSize: 16 };
const charts = {};
let lastEventId = null, backoff = 1000, controller = null;

function fit() {  // scale the 1920×1080 stage to the screen, keeping 16:9
  const scale = Math.min(innerWidth / 1920, innerHeight / 1080);
  document.getElementById("stage").style.transform = `scale(${scale})`;
  Object.values(charts).forEach((chart) => chart.resize());
}

function auth() { return JSON.parse(sessionStorage.getItem(AUTH) || "null"); }

function headers() {
  const held = auth();
  if (!held) return null;
  return held.key ? { "X-API-Key": held.key } : { Authorization: `Bearer ${held.access_token}` };
}

async function signIn(event) {
  event.preventDefault();
  const key = document.getElementById("key").value.trim();
  const error = document.getElementById("login-error");
  if (key) {
    sessionStorage.setItem(AUTH, JSON.stringify({ key }));
  } else {
    const form = new URLSearchParams({ grant_type: "password", username: document.getElementById("username").value,
      password: document.getElementById("password").value });
    const answer = await fetch("/api/v1/auth/token", { method: "POST", body: form });
    if (!answer.ok) { error.textContent = "登录失败：" + ((await answer.json()).title || answer.status); return; }
    sessionStorage.setItem(AUTH, JSON.stringify(await answer.json()));
  }
  error.textContent = "";
  document.getElementById("login").hidden = true;
  connect();
}

async function renew() {  // a staff token expired: use the refresh token once, else sign in again
  const held = auth();
  if (!held || !held.refresh_token) return false;
  const answer = await fetch("/api/v1/auth/token", { method: "POST",
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: held.refresh_token }) });
  if (!answer.ok) return false;
  sessionStorage.setItem(AUTH, JSON.stringify(await answer.json()));
  return true;
}

function askLogin(message) {
  sessionStorage.removeItem(AUTH);
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("login").hidden = false;
}

function setLink(up) {
  const link = document.getElementById("link");
  link.textContent = up ? "实时" : "重连中";
  link.className = "link " + (up ? "up" : "down");
}

async function connect() {
  if (controller) controller.abort();
  const sent = headers();
  if (!sent) { askLogin(); return; }
  controller = new AbortController();
  const region = document.getElementById("region").value;
  const url = "/api/v1/screen/stream" + (region ? `?region=${encodeURIComponent(region)}` : "");
  if (lastEventId) sent["Last-Event-ID"] = lastEventId;
  try {
    const answer = await fetch(url, { headers: sent, signal: controller.signal, cache: "no-store" });
    if (answer.status === 401) {
      if (await renew()) { connect(); } else { askLogin("凭据无效或已过期，请重新登录"); }
      return;
    }
    if (answer.status === 403) { askLogin("此账号无权查看该范围的大屏"); return; }
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    setLink(true);
    backoff = 1000;
    await read(answer.body.getReader());
  } catch (error) {
    if (error.name === "AbortError") return;
  }
  setLink(false);
  setTimeout(connect, backoff);  // reconnect with backoff, resuming from the last frame seen
  backoff = Math.min(backoff * 2, 30000);
}

const SILENCE_LIMIT = 45000;  // three keep-alives missed: the stream has stalled, so connect again

async function read(reader) {
  const decoder = new TextDecoder();
  let buffer = "", watchdog = null;
  const watch = () => { clearTimeout(watchdog); watchdog = setTimeout(() => reader.cancel(), SILENCE_LIMIT); };
  watch();
  for (;;) {
    const { value, done } = await reader.read();
    watch();
    if (done) { clearTimeout(watchdog); return; }
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

function dispatch(block) {
  let kind = null, id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) kind = line.slice(6).trim();
    else if (line.startsWith("id:")) id = line.slice(3).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!kind || !data.length) return;  // a keep-alive comment
  lastEventId = id;
  draw(JSON.parse(data.join("\n")));
}

function percent(rate) { return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`; }

function entries(counts, dimension) {
  return Object.entries(counts).sort((a, b) => b[1] - a[1])
    .map(([code, n]) => ({ name: (LABELS[dimension] || {})[code] || code, value: n, code }));
}

function paint(id, option) {  // a wall redraws often: figures jump straight to their value
  charts[id].setOption({ animation: false, ...option }, true);
}

function bars(id, items, color) {
  paint(id, {
    grid: { left: 140, right: 30, top: 10, bottom: 30 }, tooltip: {},
    xAxis: { type: "value", axisLabel: TEXT, splitLine: { lineStyle: { color: "#16386f" } } },
    yAxis: { type: "category", inverse: true, data: items.map((i) => i.name), axisLabel: TEXT },
    series: [{ type: "bar", data: items.map((i) => i.value), itemStyle: { color }, label: { show: true, position: "right", ...TEXT } }],
  });
}

function draw(frame) {
  const f = frame.figures;
  window.fqFrame = frame;  // for the e2e test and for operators at the console
  for (const id of ["received_today", "resolved_today", "open", "grade3_open", "overdue"]) {
    document.getElementById(id).textContent = f[id];
  }
  document.getElementById("due_soon").textContent = frame.due_soon;
  document.getElementById("response_rate").textContent = percent(f.response.rate);
  document.getElementById("mediation_rate").textContent = percent(f.mediation.success_rate);
  document.getElementById("performance_rate").textContent = percent(f.mediation.performance_rate);
  document.getElementById("resolution_rate").textContent = percent(f.followup.resolution_rate);
  document.getElementById("satisfaction_rate").textContent = percent(f.followup.satisfaction_rate);
  document.getElementById("updated").textContent = new Date(frame.updated_at).toLocaleTimeString("zh-CN", { hour12: false });
  paint("trend", {
    tooltip: { trigger: "axis" }, legend: { top: 4, right: 20, textStyle: TEXT, data: ["受理", "化解"] },
    grid: { left: 50, right: 20, top: 40, bottom: 30 },
    xAxis: { type: "category", data: f.per_day.map((d) => d.day.slice(5)), axisLabel: TEXT },
    yAxis: { type: "value", axisLabel: TEXT, splitLine: { lineStyle: { color: "#16386f" } } },
    series: [{ name: "受理", type: "line", smooth: true, data: f.per_day.map((d) => d.received), color: "#36a3f7" },
      { name: "化解", type: "line", smooth: true, data: f.per_day.map((d) => d.resolved), color: "#36d399" }],
  });
  const risks = entries(f.open_by.risk, "risk");
  paint("risk", {
    tooltip: {}, legend: { bottom: 0, textStyle: TEXT },
    series: [{ type: "pie", radius: ["40%", "70%"], label: { ...TEXT, formatter: "{b} {c}" },
      data: risks.map((r) => ({ ...r, itemStyle: { color: RISK_COLORS[r.code] } })) }],
  });
  bars("level", entries(f.open_by.level, "level"), "#36a3f7");
  bars("category", entries(f.open_by.category, "category").slice(0, 8), "#9254de");
  bars("channel", entries(f.received_today_by_channel, "channel"), "#13c2c2");
  const regions = frame.regions || [];
  paint("regions", {
    tooltip: { trigger: "axis" }, legend: { top: 4, right: 20, textStyle: TEXT, data: ["在办", "逾期"] },
    grid: { left: 140, right: 30, top: 40, bottom: 30 },
    xAxis: { type: "value", axisLabel: TEXT, splitLine: { lineStyle: { color: "#16386f" } } },
    yAxis: { type: "category", inverse: true, data: regions.map((r) => r.name), axisLabel: TEXT },
    series: [{ name: "在办", type: "bar", data: regions.map((r) => r.open), color: "#36a3f7" },
      { name: "逾期", type: "bar", data: regions.map((r) => r.overdue), color: "#ff4d4f" }],
  });
  hotMatters(frame.hot);
  pickable(regions);
  listGrade3(frame.grade3, new Date(frame.updated_at));
}

function hotMatters(hot) {  // risen against the week before; or, with no week yet, simply the most told
  document.getElementById("hot-title").textContent =
    hot.basis === "week" ? "热点事项（近24小时较前7日上升）" : "高频事项（近24小时）";
  bars("hot", hot.matters.map((m) => ({ name: m.word, value: m.cases })), "#fa8c16");
}

function pickable(regions) {  // the picker offers the regions one level down of what is shown
  const select = document.getElementById("region");
  const chosen = select.value;
  const known = new Set([...select.options].map((o) => o.value));
  for (const r of regions) {
    if (!known.has(r.code)) select.add(new Option(r.name, r.code));
  }
  select.value = chosen;
}

function age(receivedAt, now) {
  const minutes = Math.max(0, Math.floor((now - new Date(receivedAt)) / 60000));
  if (minutes < 60) return `${minutes}分钟`;
  if (minutes < 1440) return `${Math.floor(minutes / 60)}小时${minutes % 60}分`;
  return `${Math.floor(minutes / 1440)}天${Math.floor((minutes % 1440) / 60)}小时`;
}

function listGrade3(cases, now) {
  const body = document.getElementById("grade3");
  body.replaceChildren(...cases.map((c) => {
    const row = document.createElement("tr");
    row.dataset.number = c.number;
    const cells = [c.number, LABELS.category[c.category] || c.category || "待分类",
      c.region_name || c.region_code, c.unit_name || "待分派", age(c.received_at, now)];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;  // text, never HTML: the wall shows what the platform sent as it is
      row.append(cell);
    }
    if (c.overdue) row.lastChild.className = "overdue";
    return row;
  }));
}

function start() {
  for (const id of ["trend", "risk", "level", "category", "channel", "regions", "hot"]) {
    charts[id] = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  }
  addEventListener("resize", fit);
  fit();
  document.getElementById("login-form").addEventListener("submit", signIn);
  document.getElementById("logout").addEventListener("click", () => { controller && controller.abort(); askLogin(); });
  document.getElementById("region").addEventListener("change", () => { lastEventId = null; connect(); });
  if (auth()) connect(); else askLogin();
}

start();
