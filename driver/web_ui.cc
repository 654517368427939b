#include "driver/web_ui.h"

#include <glog/logging.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "runtime/streaming_progress.h"

namespace ember {
namespace internal {

namespace {

// ----------------------------------------------------------------------------- assets
// The pages are static: they read everything from the REST API and write it into the DOM with
// textContent, so no user string is ever parsed as markup.

constexpr char kCss[] = R"CSS(
body { font-family: sans-serif; margin: 0 1.5em 2em; color: #222; }
header { display: flex; align-items: baseline; gap: 1em; border-bottom: 2px solid #e25822; }
header a { color: #e25822; font-weight: bold; font-size: 1.4em; text-decoration: none; }
h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.grid { display: grid; grid-template-columns: 2fr 1fr; gap: 0 1em; max-width: 1200px; }
.chart { height: 160px; } .err { color: #b00; } .muted { color: #777; }
#summary span { margin-right: 1.5em; }
)CSS";

constexpr char kCommonJs[] = R"JS(
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function link(href, text) { const a = el('a', text); a.href = href; return a; }
async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
function fillTable(table, headers, rows) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  headers.forEach(h => head.appendChild(el('th', h)));
  const body = table.createTBody();
  rows.forEach(cells => {
    const tr = body.insertRow();
    cells.forEach(c => {
      const td = tr.insertCell();
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null ? '-' : String(c);
      if (typeof c === 'string' || c instanceof Node) td.className = 'l';
    });
  });
}
function ms(v) { return v === null || v === undefined ? '-' : v + ' ms'; }
)JS";

constexpr char kIndexHtml[] = R"HTML(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Ember</title>
<link rel="stylesheet" href="/static/ui.css"></head>
<body><header><a href="/">Ember</a><span>applications and executors</span></header>
<h2>Applications</h2><table id="apps"></table>
<h2>Executors</h2><table id="executors"></table>
<p id="error" class="err"></p>
<script src="/static/common.js"></script>
<script>
async function refresh() {
  try {
    const apps = await getJson('/api/v1/applications');
    fillTable(document.getElementById('apps'),
      ['Application', 'Name', 'Started', 'Ended', 'Batch interval'],
      apps.map(a => [link('/apps/' + encodeURIComponent(a.id) + '/', a.id), a.name,
                     a.startTime, a.endTime || 'running', ms(a.batchDuration)]));
    const ex = await getJson('/api/v1/executors');
    fillTable(document.getElementById('executors'),
      ['Executor', 'Address', 'Slots', 'Running tasks', 'Tasks run', 'Blocks', 'Bytes stored',
       'Receivers', 'Last heartbeat', 'State'],
      ex.map(e => [e.id, e.address, e.slots, e.runningTasks, e.completedTasks, e.blocks, e.blockBytes,
                   e.receivers, e.lastHeartbeat,
                   e.unhealthy ? e.state + ': ' + e.unhealthy : e.state]));
    document.getElementById('error').textContent = '';
  } catch (e) { document.getElementById('error').textContent = e.message; }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
)HTML";

constexpr char kStreamingHtml[] = R"HTML(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Ember streaming</title>
<link rel="stylesheet" href="/static/ui.css"></head>
<body><header><a href="/">Ember</a><span id="name"></span><span id="appid" class="muted"></span></header>
<p id="summary"></p><p id="error" class="err"></p>
<h2>Statistics over the retained batches</h2>
<div class="grid">
 <div class="chart"><canvas id="rate"></canvas></div><div class="chart"><canvas id="rateHist"></canvas></div>
 <div class="chart"><canvas id="sched"></canvas></div><div class="chart"><canvas id="schedHist"></canvas></div>
 <div class="chart"><canvas id="proc"></canvas></div><div class="chart"><canvas id="procHist"></canvas></div>
 <div class="chart"><canvas id="total"></canvas></div><div class="chart"><canvas id="totalHist"></canvas></div>
</div>
<div id="dashboards" hidden><h2>Dashboards</h2><p id="dashboardLinks"></p></div>
<h2>Receivers</h2><table id="receivers"></table>
<h2>Active batches (<span id="nactive">0</span>)</h2><table id="active"></table>
<h2>Completed batches (<span id="ncompleted">0</span>)</h2>
<p><button id="prev">newer</button> <span id="page"></span> <button id="next">older</button></p>
<table id="completed"></table>
<script src="/static/chart.js"></script>
<script src="/static/common.js"></script>
<script>
const app = decodeURIComponent(location.pathname.split('/')[2]);
const api = '/api/v1/applications/' + encodeURIComponent(app) + '/streaming/';
document.getElementById('appid').textContent = app;
const pageSize = 100; let page = 0;
document.getElementById('prev').onclick = () => { page = Math.max(0, page - 1); refresh(); };
document.getElementById('next').onclick = () => { page++; refresh(); };
const charts = {};
function chart(id, type, label, color) {
  return charts[id] = new Chart(document.getElementById(id), {
    type: type, data: { labels: [], datasets: [{ label: label, data: [], borderColor: color,
      backgroundColor: color, pointRadius: 0, borderWidth: 1.5 }] },
    options: { animation: false, maintainAspectRatio: false, responsive: true,
      plugins: { legend: { labels: { boxWidth: 10 } } },
      scales: { x: { ticks: { maxTicksLimit: 8 } }, y: { beginAtZero: true } } } });
}
chart('rate', 'line', 'input rate (records/s)', '#3572b0');
chart('sched', 'line', 'scheduling delay (ms)', '#e25822');
chart('proc', 'line', 'processing time (ms)', '#2a9d4a');
charts.proc.data.datasets.push({ label: 'batch interval', data: [], borderColor: '#999',
  borderDash: [6, 4], pointRadius: 0, borderWidth: 1 });
chart('total', 'line', 'total delay (ms)', '#7b4fa0');
chart('rateHist', 'bar', 'batches by input rate', '#3572b0');
chart('schedHist', 'bar', 'batches by scheduling delay', '#e25822');
chart('procHist', 'bar', 'batches by processing time', '#2a9d4a');
chart('totalHist', 'bar', 'batches by total delay', '#7b4fa0');
function histogram(values) {
  const v = values.filter(x => x !== null);
  if (!v.length) return { labels: [], counts: [] };
  const max = Math.max(...v), bins = 10, width = max > 0 ? max / bins : 1;
  const counts = new Array(bins).fill(0);
  v.forEach(x => counts[Math.min(bins - 1, Math.floor(x / width))]++);
  const f = x => width < 10 ? x.toFixed(1) : Math.round(x);
  return { labels: counts.map((_, i) => f(i * width) + '-' + f((i + 1) * width)),
           counts: counts };
}
function setLine(id, labels, values) {
  charts[id].data.labels = labels; charts[id].data.datasets[0].data = values; charts[id].update('none');
}
function setHist(id, values) {
  const h = histogram(values);
  charts[id].data.labels = h.labels; charts[id].data.datasets[0].data = h.counts; charts[id].update('none');
}
function batchLink(b) {
  return link('/apps/' + encodeURIComponent(app) + '/batch/' + b.batchId, b.batchTime);
}
function batchRow(b) {
  return [batchLink(b), b.status, b.inputSize, ms(b.schedulingDelay), ms(b.processingTime),
          ms(b.totalDelay), b.numCompletedOutputOps + '/' + b.numTotalOutputOps, b.firstFailureReason || ''];
}
const batchHeaders = ['Batch time', 'Status', 'Records', 'Scheduling delay', 'Processing time',
                      'Total delay', 'Output ops', 'Error'];
async function refresh() {
  try {
    const [stats, receivers, batches, apps, dashboards] = await Promise.all([
      getJson(api + 'statistics'), getJson(api + 'receivers'), getJson(api + 'batches'),
      getJson('/api/v1/applications'),
      getJson('/api/v1/applications/' + encodeURIComponent(app) + '/dashboards')]);
    document.getElementById('dashboards').hidden = dashboards.length === 0;
    const links = dashboards.map(d => link('/apps/' + encodeURIComponent(app) + '/dashboards/' +
                                          encodeURIComponent(d.name), d.name));
    document.getElementById('dashboardLinks').replaceChildren(
      ...links.flatMap((a, i) => i ? [document.createTextNode(' \u00b7 '), a] : [a]));
    const me = apps.find(a => a.id === app);
    if (me) { document.getElementById('name').textContent = me.name; document.title = 'Ember: ' + me.name; }
    const summary = document.getElementById('summary');
    summary.replaceChildren(
      el('span', 'running since ' + stats.startTime),
      el('span', 'batch interval ' + stats.batchDuration + ' ms'),
      el('span', stats.numTotalCompletedBatches + ' completed batches'),
      el('span', stats.numProcessedRecords + ' records'),
      el('span', 'avg processing ' + (stats.avgProcessingTime === null ? '-' : stats.avgProcessingTime.toFixed(1)) + ' ms'));
    summary.id = 'summary';
    const done = batches.filter(b => b.status === 'COMPLETED').slice().reverse();
    const labels = done.map(b => b.batchTime.substr(11, 8));
    setLine('rate', labels, done.map(b => b.inputSize * 1000 / b.batchDuration));
    setLine('sched', labels, done.map(b => b.schedulingDelay));
    setLine('proc', labels, done.map(b => b.processingTime));
    charts.proc.data.datasets[1].data = done.map(() => stats.batchDuration); charts.proc.update('none');
    setLine('total', labels, done.map(b => b.totalDelay));
    setHist('rateHist', done.map(b => b.inputSize * 1000 / b.batchDuration));
    setHist('schedHist', done.map(b => b.schedulingDelay));
    setHist('procHist', done.map(b => b.processingTime));
    setHist('totalHist', done.map(b => b.totalDelay));
    fillTable(document.getElementById('receivers'),
      ['Stream', 'Name', 'Status', 'Executor', 'Host', 'Avg rate (records/s)',
       'Rate limit (records/s)', 'Last error time', 'Last error'],
      receivers.map(r => [r.streamId, r.streamName, r.isActive ? 'ACTIVE' : 'INACTIVE', r.executorId,
                          r.executorHost, r.avgEventRate === null ? '-' : r.avgEventRate.toFixed(1),
                          r.rateLimit === null || r.rateLimit === undefined ? 'none'
                                                                            : r.rateLimit.toFixed(0),
                          r.lastErrorTime || '-', r.lastErrorMessage || '']));
    const active = batches.filter(b => b.status !== 'COMPLETED');
    document.getElementById('nactive').textContent = active.length;
    fillTable(document.getElementById('active'), batchHeaders, active.map(batchRow));
    const completed = batches.filter(b => b.status === 'COMPLETED');
    document.getElementById('ncompleted').textContent = completed.length;
    const pages = Math.max(1, Math.ceil(completed.length / pageSize));
    page = Math.min(page, pages - 1);
    document.getElementById('page').textContent = 'page ' + (page + 1) + ' of ' + pages;
    fillTable(document.getElementById('completed'), batchHeaders,
              completed.slice(page * pageSize, (page + 1) * pageSize).map(batchRow));
    document.getElementById('error').textContent = '';
  } catch (e) { document.getElementById('error').textContent = e.message; }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
)HTML";

constexpr char kBatchHtml[] = R"HTML(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Ember batch</title>
<link rel="stylesheet" href="/static/ui.css"></head>
<body><header><a href="/">Ember</a><a id="back" style="font-size:1em">streaming</a><span id="title"></span></header>
<table id="batch"></table><h2>Output operations</h2><table id="ops"></table>
<p id="error" class="err"></p>
<script src="/static/common.js"></script>
<script>
const parts = location.pathname.split('/');
const app = decodeURIComponent(parts[2]), time = parts[4];
document.getElementById('back').href = '/apps/' + encodeURIComponent(app) + '/';
const api = '/api/v1/applications/' + encodeURIComponent(app) + '/streaming/batches/' + encodeURIComponent(time);
async function refresh() {
  try {
    const b = await getJson(api), ops = await getJson(api + '/operations');
    document.getElementById('title').textContent = 'batch ' + b.batchTime;
    fillTable(document.getElementById('batch'), ['Status', 'Records', 'Scheduling delay',
      'Processing time', 'Total delay', 'Output ops', 'Error'],
      [[b.status, b.inputSize, ms(b.schedulingDelay), ms(b.processingTime), ms(b.totalDelay),
        b.numCompletedOutputOps + '/' + b.numTotalOutputOps, b.firstFailureReason || '']]);
    fillTable(document.getElementById('ops'), ['Id', 'Name', 'Description', 'Started', 'Duration', 'Failure'],
      ops.map(o => [o.outputOpId, o.name, o.description, o.startTime, ms(o.duration), o.failureReason || '']));
  } catch (e) { document.getElementById('error').textContent = e.message; }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
)HTML";

// A dashboard (DStream::dashboard): a chart of the top keys (or the value) per batch over
// its window and a table of the newest batch, from /api/v1/applications/APP/dashboards/NAME.
constexpr char kDashboardHtml[] = R"HTML(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Ember dashboard</title>
<link rel="stylesheet" href="/static/ui.css"></head>
<body><header><a href="/">Ember</a><a id="back" style="font-size:1em">streaming</a><span id="title"></span><span id="appid" class="muted"></span></header>
<p id="summary"></p><p id="error" class="err"></p>
<div style="height: 360px; max-width: 1200px"><canvas id="chart"></canvas></div>
<h2>Newest batch <span id="latest" class="muted"></span></h2><table id="table"></table>
<script src="/static/chart.js"></script>
<script src="/static/common.js"></script>
<script>
const parts = location.pathname.split('/');
const app = decodeURIComponent(parts[2]), name = decodeURIComponent(parts[4]);
document.getElementById('back').href = '/apps/' + encodeURIComponent(app) + '/';
document.getElementById('title').textContent = name;
document.getElementById('appid').textContent = app;
document.title = 'Ember: ' + name;
const api = '/api/v1/applications/' + encodeURIComponent(app) + '/dashboards/' + encodeURIComponent(name);
const palette = ['#3572b0', '#e25822', '#2a9d4a', '#7b4fa0', '#c9a227', '#1b9aaa', '#d6336c',
                 '#6c757d', '#8d6e63', '#20c997'];
let chart = null;
// One dataset per key seen in the window (null where a batch did not have it among its top),
// or one dataset of the value.
function datasets(d) {
  if (!d.keyed) return [{ label: name, data: d.batches.map(b => b.value) }];
  const keys = [];
  d.batches.forEach(b => b.points.forEach(p => { if (!keys.includes(p.key)) keys.push(p.key); }));
  return keys.map(k => ({ label: k, data: d.batches.map(b => {
    const p = b.points.find(p => p.key === k); return p ? p.value : null; }) }));
}
async function refresh() {
  try {
    const d = await getJson(api);
    const labels = d.batches.map(b => b.batchTime.substr(11, 12));
    const sets = datasets(d).map((s, i) => Object.assign(s, {
      borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
      pointRadius: d.batches.length > 60 ? 0 : 2, borderWidth: 1.5, spanGaps: false }));
    if (!chart || chart.config.type !== d.chart) {
      if (chart) chart.destroy();
      chart = new Chart(document.getElementById('chart'), {
        type: d.chart, data: { labels: [], datasets: [] },
        options: { animation: false, maintainAspectRatio: false, responsive: true,
          plugins: { legend: { labels: { boxWidth: 10 } } },
          scales: { x: { ticks: { maxTicksLimit: 12 } }, y: { beginAtZero: true } } } });
    }
    chart.data.labels = labels; chart.data.datasets = sets; chart.update('none');
    document.getElementById('summary').replaceChildren(
      el('span', d.batches.length + ' of ' + d.window + ' batches'),
      el('span', d.keyed ? 'top ' + d.top + ' keys per batch' : 'the value per batch'),
      el('span', d.chart + ' chart'));
    const last = d.batches[d.batches.length - 1];
    document.getElementById('latest').textContent = last ? last.batchTime : '';
    const rows = !last ? [] : d.keyed ? last.points.map((p, i) => [i + 1, p.key, p.value])
                                      : [[1, name, last.value]];
    fillTable(document.getElementById('table'), ['Rank', 'Key', 'Value'], rows);
    document.getElementById('error').textContent = '';
  } catch (e) { document.getElementById('error').textContent = e.message; }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
)HTML";

void Json(httplib::Response& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  // Job data need not be UTF-8: invalid bytes show as U+FFFD rather than failing the reply.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

void NotFound(httplib::Response& res, const std::string& what) {
  Json(res, {{"error", what}}, 404);
}

bool ParseTime(const std::string& text, int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  *out = std::stoll(text);
  return true;
}

}  // namespace

WebUi::WebUi(Options options)
    : options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {}

WebUi::~WebUi() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string WebUi::url() const {
  std::string host = options_.bind == "0.0.0.0" ? "localhost" : options_.bind;
  return "http://" + host + ":" + std::to_string(port_) + "/";
}

absl::StatusOr<std::unique_ptr<WebUi>> WebUi::Start(Options options) {
  auto ui = std::unique_ptr<WebUi>(new WebUi(std::move(options)));
  ui->Routes();
  int port = ui->options_.port;
  for (int attempt = 0;; ++attempt) {
    if (port == 0) {
      port = ui->server_->bind_to_any_port(ui->options_.bind);
      if (port > 0) break;
    } else if (ui->server_->bind_to_port(ui->options_.bind, port)) {
      break;
    }
    if (attempt >= ui->options_.port_retries || ui->options_.port == 0) {
      return absl::UnavailableError("cannot serve the web UI on " + ui->options_.bind + ":" +
                                    std::to_string(port) + " (port in use?)");
    }
    ++port;
  }
  ui->port_ = port;
  httplib::Server* server = ui->server_.get();
  // Bound and listening already: connections wait in the backlog until the thread accepts.
  ui->thread_ = std::thread([server] { server->listen_after_bind(); });
  // stop() is a no-op until the loop runs: wait for it, so that destruction never hangs.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ui;
}

void WebUi::Routes() {
  httplib::Server& s = *server_;
  s.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                         {"Content-Security-Policy", "default-src 'self' 'unsafe-inline'"}});
  auto html = [](const char* page) {
    return [page](const httplib::Request&, httplib::Response& res) {
      res.set_content(page, "text/html; charset=utf-8");
    };
  };
  s.Get("/", html(kIndexHtml));
  s.Get(R"(/apps/([^/]+)/?)", html(kStreamingHtml));
  s.Get(R"(/apps/([^/]+)/batch/(\d+))", html(kBatchHtml));
  s.Get(R"(/apps/([^/]+)/dashboards/([^/]+))", html(kDashboardHtml));
  s.Get("/static/ui.css",
        [](const httplib::Request&, httplib::Response& res) { res.set_content(kCss, "text/css"); });
  s.Get("/static/common.js", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kCommonJs, "application/javascript");
  });
  std::string chart_js = options_.chart_js;
  s.Get("/static/chart.js", [chart_js](const httplib::Request&, httplib::Response& res) {
    std::ifstream in(chart_js, std::ios::binary);
    if (!in) {
      res.status = 404;
      res.set_content("// Chart.js is missing: install Debian's libjs-chart.js\n",
                      "application/javascript");
      return;
    }
    std::ostringstream body;
    body << in.rdbuf();
    res.set_header("Cache-Control", "max-age=3600");
    res.set_content(body.str(), "application/javascript");
  });

  s.Get("/api/v1/applications", [](const httplib::Request&, httplib::Response& res) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : Monitor::Global().All()) out.push_back(a->Application());
    Json(res, out);
  });
  auto executors = options_.executors;
  s.Get("/api/v1/executors", [executors](const httplib::Request&, httplib::Response& res) {
    Json(res, executors ? executors() : nlohmann::json::array());
  });
  s.Get(R"(/api/v1/applications/([^/]+)/streaming/(statistics|receivers|batches))",
        [](const httplib::Request& req, httplib::Response& res) {
          auto app = Monitor::Global().Find(req.matches[1]);
          if (app == nullptr) return NotFound(res, "no application " + req.matches[1].str());
          std::string what = req.matches[2];
          if (what == "statistics") return Json(res, app->Statistics());
          if (what == "receivers") return Json(res, app->Receivers());
          nlohmann::json batches = app->Batches();
          // ?status=COMPLETED|PROCESSING|QUEUED, as Spark's.
          if (req.has_param("status")) {
            nlohmann::json filtered = nlohmann::json::array();
            for (auto& b : batches) {
              if (b["status"] == req.get_param_value("status")) filtered.push_back(b);
            }
            batches = std::move(filtered);
          }
          Json(res, batches);
        });
  s.Get(R"(/api/v1/applications/([^/]+)/streaming/batches/([^/]+)(/operations)?)",
        [](const httplib::Request& req, httplib::Response& res) {
          auto app = Monitor::Global().Find(req.matches[1]);
          if (app == nullptr) return NotFound(res, "no application " + req.matches[1].str());
          int64_t t = 0;
          if (!ParseTime(req.matches[2], &t)) {
            return NotFound(res,
                            "no batch " + req.matches[2].str() + " (batch ids are times in ms)");
          }
          auto body = req.matches[3].length() > 0 ? app->Operations(t) : app->Batch(t);
          if (!body) return NotFound(res, "no batch " + std::to_string(t) + " in " + app->app_id());
          Json(res, *body);
        });
  s.Get(R"(/api/v1/applications/([^/]+)/dashboards)",
        [](const httplib::Request& req, httplib::Response& res) {
          auto app = Monitor::Global().Find(req.matches[1]);
          if (app == nullptr) return NotFound(res, "no application " + req.matches[1].str());
          Json(res, app->Dashboards());
        });
  s.Get(R"(/api/v1/applications/([^/]+)/dashboards/([^/]+))",
        [](const httplib::Request& req, httplib::Response& res) {
          auto app = Monitor::Global().Find(req.matches[1]);
          if (app == nullptr) return NotFound(res, "no application " + req.matches[1].str());
          auto body = app->Dashboard(req.matches[2]);
          if (!body) return NotFound(res, "no dashboard " + req.matches[2].str() + " in " + app->app_id());
          Json(res, *body);
        });
  s.Get("/metrics", [executors](const httplib::Request&, httplib::Response& res) {
    std::string out;
    Monitor::Global().AppendMetrics(&out);
    // Blocks and bytes stored, per executor (cluster) or absent (local mode).
    if (executors) {
      std::string blocks = "# TYPE ember_executor_blocks gauge\n";
      std::string bytes = "# TYPE ember_executor_block_bytes gauge\n";
      std::string alive = "# TYPE ember_executor_alive gauge\n";
      std::string orphans = "# TYPE ember_executor_orphan_blocks_removed_total counter\n";
      std::string healthy = "# TYPE ember_executor_healthy gauge\n";
      for (const auto& e : executors()) {
        std::string label = "{executor=\"" + PromEscape(e.value("id", "")) + "\"}";
        if (e["blocks"].is_number())
          blocks += "ember_executor_blocks" + label + " " + e["blocks"].dump() + "\n";
        if (e["blockBytes"].is_number()) {
          bytes += "ember_executor_block_bytes" + label + " " + e["blockBytes"].dump() + "\n";
        }
        std::string state = e.value("state", "");
        alive += "ember_executor_alive" + label + (state != "lost" ? " 1\n" : " 0\n");
        // A live executor that can store blocks.
        if (state != "lost")
          healthy += "ember_executor_healthy" + label + (state == "alive" ? " 1\n" : " 0\n");
        if (e.contains("orphanBlocksRemoved") && e["orphanBlocksRemoved"].is_number()) {
          orphans += "ember_executor_orphan_blocks_removed_total" + label + " " +
                     e["orphanBlocksRemoved"].dump() + "\n";
        }
      }
      out += blocks + bytes + alive + healthy + orphans;
    }
    res.set_content(out, "text/plain; version=0.0.4");
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status != 404 || !res.body.empty()) return;
    if (req.path.rfind("/api/", 0) == 0) {
      NotFound(res, "no such resource " + req.path);
    } else {
      res.set_content("Not found", "text/plain");
    }
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    Json(res, {{"error", "internal error"}}, 500);
  });
}

}  // namespace internal
}  // namespace ember
