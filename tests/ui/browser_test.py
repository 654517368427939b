#!/usr/bin/env python3
"""The streaming page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven over the WebDriver protocol) opens the page of a running local job,
waits for the charts and tables to fill, checks what it shows against the REST API, checks that
a hostile job name stays text, and saves a screenshot under the test outputs. Then the same
for the dashboards of a job with known inputs (DStream::dashboard).

Every process it starts is killed at the end, also on failure; every wait has a deadline.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HOSTILE = "<img src=x id=pwned onerror=document.title='owned'>"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def eventually(what, fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # not ready yet
            last = e
        time.sleep(0.2)  # polling a condition
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def http_json(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode())


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": shutil.which("chromium") or "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,2000"]}}}}
        self.session = http_json(self.base + "/session", "POST", caps)["value"]["sessionId"]

    def cmd(self, method, path, body=None):
        return http_json(f"{self.base}/session/{self.session}{path}", method, body)["value"]

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def quit(self):
        try:
            http_json(f"{self.base}/session/{self.session}", "DELETE")
        except Exception:
            pass


DASH_HOSTILE = "<img src=x onerror=alert(1)>"
# Every batch of tests/jobs/dashboard_words.cc: the top 3 word counts, and its record count.
DASH_WORDS = [["apple", 5], [DASH_HOSTILE, 4], ["pear", 3]]
DASH_RECORDS = 13


def check_dashboards(driver, start, read, root, outputs):
    """A job with known inputs on two dashboards: the chart and the table show what the REST
    API serves, which is what the inputs give, and the hostile key stays text."""
    start([root + "/tools/ember-submit", "--master", "local[2]", "--name", "dashboards",
           "--conf", "ember.ui.port=0", root + "/tests/jobs/libdashboard_words.so", "--",
           "200", "120000", "1000"], "dash")
    ui = eventually("the dashboard job's web UI", lambda: re.search(
        r"web UI at (http://\S+/)", read("dash.err")).group(1))
    app = eventually("the application", lambda: http_json(ui + "api/v1/applications"))[0]["id"]
    api = f"{ui}api/v1/applications/{app}/dashboards/"
    eventually("5 dashboard batches", lambda: len(http_json(api + "words")["batches"]) >= 5)

    # The streaming page links to both dashboards.
    driver.get(f"{ui}apps/{app}/")
    links = eventually("the dashboard links", lambda: driver.js(
        "const a = [...document.querySelectorAll('#dashboardLinks a')];"
        "return a.length === 2 && a.map(x => x.textContent);"))
    assert links == ["records", "words"], links

    driver.get(f"{ui}apps/{app}/dashboards/words")
    eventually("the words chart", lambda: driver.js(
        "const c = Chart.getChart('chart');"
        "return c && c.data.datasets.length === 3 && c.data.labels.length >= 5;"))
    shown = driver.js(
        "const c = Chart.getChart('chart');"
        "return {type: c.config.type, labels: c.data.labels,"
        " sets: c.data.datasets.map(d => [d.label, d.data]),"
        " rows: [...document.querySelectorAll('#table tbody tr')].map("
        "   r => [...r.cells].map(td => td.textContent))};")
    served = http_json(api + "words")
    assert shown["type"] == served["chart"] == "line", (shown["type"], served["chart"])
    # Every batch the page charts is one the API serves, with the same values: the inputs'.
    by_time = {b["batchTime"][11:23]: b for b in served["batches"]}
    for label_index, label in enumerate(shown["labels"]):
        for key, data in shown["sets"]:
            value = data[label_index]
            if label in by_time:
                points = {p["key"]: p["value"] for p in by_time[label]["points"]}
                assert points.get(key) == value, (label, key, value, points)
    assert sorted(k for k, _ in shown["sets"]) == sorted(k for k, _ in DASH_WORDS), shown["sets"]
    for key, data in shown["sets"]:
        assert all(v == dict(DASH_WORDS)[key] for v in data if v is not None), (key, data)
    assert shown["rows"] == [[str(i + 1), k, str(v)] for i, (k, v) in enumerate(DASH_WORDS)], \
        shown["rows"]
    assert all([[p["key"], p["value"]] for p in b["points"]] == DASH_WORDS
               for b in served["batches"]), served
    # The hostile key is text in the table and the legend, never an element.
    assert driver.js("return document.querySelectorAll('img').length === 0;")
    driver.screenshot(os.path.join(outputs, "dashboard-words.png"))

    driver.get(f"{ui}apps/{app}/dashboards/records")
    eventually("the records chart", lambda: driver.js(
        "const c = Chart.getChart('chart');"
        "return c && c.config.type === 'bar' && c.data.datasets[0].data.length >= 5;"))
    values = driver.js("return Chart.getChart('chart').data.datasets[0].data;")
    assert all(v == DASH_RECORDS for v in values), values
    served = http_json(api + "records")
    assert all(b["value"] == DASH_RECORDS for b in served["batches"]), served
    row = driver.js("return [...document.querySelectorAll('#table tbody tr td')].map("
                    "td => td.textContent);")
    assert row == ["1", "records", str(DASH_RECORDS)], row
    driver.screenshot(os.path.join(outputs, "dashboard-records.png"))


def main():
    root = os.getcwd()
    work = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    outputs = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", work)
    procs = []

    def start(args, name):
        out = open(os.path.join(work, name + ".out"), "w")
        err = open(os.path.join(work, name + ".err"), "w")
        p = subprocess.Popen(args, stdout=out, stderr=err, start_new_session=True)
        procs.append(p)
        return p

    def read(name):
        with open(os.path.join(work, name)) as f:
            return f.read()

    driver = None
    try:
        start([root + "/tools/ember-textserver", "--port", "0", "--generate", "--vocabulary",
               "8", "--rate", "400"], "source")
        port = eventually("the text source", lambda: re.search(
            r"listening on [^:]+:(\d+)", read("source.out")).group(1))
        start([root + "/tools/ember-submit", "--master", "local[2]", "--name", HOSTILE,
               "--conf", "ember.ui.port=0", "--conf", "ember.streaming.receiver.maxRate=250000",
               root + "/examples/libnetwork_word_count.so", "--", "127.0.0.1", port, "500",
               "120000"], "job")
        ui = eventually("the web UI", lambda: re.search(
            r"web UI at (http://\S+/)", read("job.err")).group(1))
        apps = eventually("the application", lambda: http_json(ui + "api/v1/applications"))
        app = apps[0]["id"]
        assert apps[0]["name"] == HOSTILE, apps
        api = f"{ui}api/v1/applications/{app}/streaming/"
        eventually("5 completed batches", lambda: http_json(api + "statistics")
                   ["numTotalCompletedBatches"] >= 5)

        chromedriver_port = free_port()
        start([shutil.which("chromedriver") or "/usr/bin/chromedriver",
               f"--port={chromedriver_port}"], "chromedriver")
        driver = eventually("chromedriver", lambda: WebDriver(chromedriver_port), 60)
        driver.get(f"{ui}apps/{app}/")

        # Charts and tables fill themselves from the API.
        eventually("the charts", lambda: driver.js(
            "const c = Chart.getChart('proc'); return c && c.data.datasets[0].data.length >= 5;"))
        eventually("the completed batches table", lambda: driver.js(
            "return document.querySelectorAll('#completed tbody tr').length >= 5;"))
        eventually("the receivers table", lambda: driver.js(
            "const r = document.querySelector('#receivers tbody tr');"
            "return r && r.cells[2].textContent === 'ACTIVE';"))

        # What the page shows is what the API says: every completed row that the API still
        # retains has the same records and delays.
        rows = driver.js(
            "return [...document.querySelectorAll('#completed tbody tr')].map(r => ["
            "r.cells[0].querySelector('a').getAttribute('href'),"
            "r.cells[2].textContent, r.cells[4].textContent]);")
        batches = {b["batchId"]: b for b in http_json(api + "batches?status=COMPLETED")}
        checked = 0
        for href, records, processing in rows:
            batch_id = int(href.rstrip("/").split("/")[-1])
            if batch_id not in batches:
                continue
            b = batches[batch_id]
            assert int(records) == b["inputSize"], (href, records, b)
            assert processing == f"{b['processingTime']} ms", (href, processing, b)
            checked += 1
        assert checked >= 5, f"only {checked} rows matched the API"
        total = sum(b["inputSize"] for b in batches.values())
        assert total > 0, "no records counted"

        # The receivers table shows the rate limit in force, as the API does.
        receivers = http_json(api + "receivers")
        assert receivers[0]["rateLimit"] == 250000, receivers
        shown = eventually("the rate limit column", lambda: driver.js(
            "const r = document.querySelector('#receivers tbody tr');"
            "return r && r.cells[6].textContent;"))
        assert shown == "250000", shown

        # The hostile name is text in the header, not markup.
        assert driver.js("return document.getElementById('pwned') === null;")
        assert driver.js("return document.getElementById('name').textContent;") == HOSTILE
        assert driver.js("return document.title;") == "Ember: " + HOSTILE

        driver.screenshot(os.path.join(outputs, "streaming-page.png"))

        # A batch's page.
        first = rows[0][0]
        driver.get(ui.rstrip("/") + first)
        eventually("the batch page", lambda: driver.js(
            "return document.querySelectorAll('#ops tbody tr').length === 1;"))
        driver.screenshot(os.path.join(outputs, "batch-page.png"))

        check_dashboards(driver, start, read, root, outputs)
        print("PASSED: page and API agree on", checked, "batches; screenshots in", outputs)
        return 0
    finally:
        if driver:
            driver.quit()
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
