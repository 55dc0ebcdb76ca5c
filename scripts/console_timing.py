#!/usr/bin/env python3
"""Times console pages in headless Chromium with the browser's Navigation Timing.

Logs in once, then loads each page RUNS times (after one warm-up load) and prints, per
page, the median and the worst of:
  response_ms  request start to the last byte of the HTML (server work + transfer),
  dom_ms       navigation start to DOMContentLoaded done (HTML parsed, deferred script run),
  load_ms      navigation start to the load event done (everything, styles and script included),
plus the number of table rows the page rendered, so an empty page cannot pass for a fast one.

Usage: console_timing.py BASE USER PASSWORD [--runs N] PATH [PATH...]
"""

import statistics
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TIMING = """
const n = performance.getEntriesByType('navigation')[0];
return {
  response_ms: n.responseEnd - n.requestStart,
  dom_ms: n.domContentLoadedEventEnd - n.startTime,
  load_ms: n.loadEventEnd - n.startTime,
  bytes: n.transferSize,
  rows: document.querySelectorAll('main table tbody tr').length,
};
"""


def main():
    args = sys.argv[1:]
    runs = 7
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    if len(args) < 4:
        sys.exit(__doc__)
    base, user, password, paths = args[0], args[1], args[2], args[3:]
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        d.get(base + "/login")
        d.find_element(By.ID, "user").send_keys(user)
        d.find_element(By.ID, "password").send_keys(password)
        d.find_element(By.CSS_SELECTOR, "section.login button[type=submit]").click()
        WebDriverWait(d, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".who")))
        print(f"{'page':48} {'response ms':>17} {'DOMContentLoaded ms':>21} {'load ms':>17} {'rows':>6} {'KiB':>6}")
        print(f"{'':48} {'median':>8} {'max':>8} {'median':>10} {'max':>10} {'median':>8} {'max':>8}")
        worst = 0.0
        for path in paths:
            d.get(base + path)  # warm-up
            samples = []
            for _ in range(runs):
                d.get(base + path)
                WebDriverWait(d, 60).until(
                    lambda drv: drv.execute_script("return document.readyState") == "complete")
                # loadEventEnd is set just after the load event: wait for it.
                WebDriverWait(d, 10).until(lambda drv: drv.execute_script(
                    "return performance.getEntriesByType('navigation')[0].loadEventEnd > 0"))
                samples.append(d.execute_script(TIMING))

            def col(k):
                v = [s[k] for s in samples]
                return statistics.median(v), max(v)

            r, dom, load = col("response_ms"), col("dom_ms"), col("load_ms")
            worst = max(worst, load[1])
            print(f"{path[:48]:48} {r[0]:8.0f} {r[1]:8.0f} {dom[0]:10.0f} {dom[1]:10.0f} "
                  f"{load[0]:8.0f} {load[1]:8.0f} {samples[-1]['rows']:6d} {samples[-1]['bytes'] / 1024:6.0f}")
        print(f"worst load over all pages and runs: {worst:.0f} ms")
    finally:
        d.quit()


if __name__ == "__main__":
    main()
