#!/usr/bin/env python3
"""The web console in a real browser: headless Chromium driven by Selenium.

Run by ConsoleBrowserTests (Swift), which starts a private broker's console, injects a poison
message into the dead letters and keeps registrations flowing. Environment:

  CONSOLE_URL        e.g. http://127.0.0.1:8123
  CONSOLE_PASSWORDS  viewer:…,operator:…,admin:… (user:password pairs)
  POISON_ID          the message id of the injected dead letter that is replayed
  SECOND_POISON_ID   another one, which the admin reveals and then purges
  POISON_NIK         the NIK inside its body (must never be shown unmasked to an operator)
  LOOKUP_ID          the number of a registration that flowed (the officer looks it up)
  BLKI_CLASS         a class of BLKI Balikpapan (the blki account's) with seats BLKI_FIRST and BLKI_SECOND
  OTHER_CLASS        a class of BLKI Bontang, which the blki account must not see
  REVIEW_ID          a registration in an officer's review (its case file in --intake-store)
  REVIEW_NAME        the name in that case file (shown only once revealed)
  SCREENSHOTS        folder for the screenshots

Exit 0 when every step passed; otherwise the failed step is printed and the exit is 1.
"""
import http.cookiejar
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

URL = os.environ["CONSOLE_URL"].rstrip("/")
PASSWORDS = dict(pair.split(":", 1) for pair in os.environ["CONSOLE_PASSWORDS"].split(","))
POISON = os.environ["POISON_ID"]
SECOND = os.environ["SECOND_POISON_ID"]
NIK = os.environ["POISON_NIK"]
LOOKUP = os.environ["LOOKUP_ID"]
BLKI_CLASS = os.environ["BLKI_CLASS"]
OTHER_CLASS = os.environ["OTHER_CLASS"]
BLKI_FIRST = os.environ["BLKI_FIRST"]
BLKI_SECOND = os.environ["BLKI_SECOND"]
REVIEW = os.environ["REVIEW_ID"]
REVIEW_NAME = os.environ["REVIEW_NAME"]
SHOTS = os.environ.get("SCREENSHOTS", ".")
os.makedirs(SHOTS, exist_ok=True)


def step(text):
    print(f"browser: {text}", flush=True)


def wait_until(what, condition, timeout=60.0, driver=None, reload=False):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the page is being replaced; ask again
            pass
        time.sleep(0.5)
        if reload and driver is not None:
            driver.refresh()
    raise AssertionError(f"timed out after {timeout} s waiting for: {what}")


def on_one_page(checks, attempts=5):
    """Runs `checks` against the page shown. The progress and queues pages refresh themselves
    every 5 s, which may replace an element between finding it and reading it: the checks then
    run again, whole, on the new page."""
    for attempt in range(attempts):
        try:
            return checks()
        except StaleElementReferenceException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


def shot(driver, name):
    path = os.path.join(SHOTS, f"{name}.png")
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, max(900, min(height + 40, 4000)))
    driver.save_screenshot(path)
    step(f"screenshot {path}")


def sign_in(driver, user):
    driver.get(URL + "/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[user])
    driver.find_element(By.ID, "sign-in").click()
    wait_until(f"{user} signed in", lambda: user in driver.find_element(By.ID, "whoami").text)


def sign_out(driver):
    driver.find_element(By.ID, "logout").click()
    wait_until("signed out", lambda: driver.current_url.endswith("/login"))


def count(driver, stage):
    return int(driver.find_element(By.CSS_SELECTOR, f"#count-{stage} b").get_attribute("data-count"))


def no_swift_names(driver):
    """No Swift type name and no path of the server reaches a page."""
    page = driver.page_source
    for leak in ["Dictionary<", "Swift.", "Optional(", "/var/", "/tmp/", ".jsonl"]:
        assert leak not in page, f"{leak!r} on {driver.current_url}"


def bars_inside(driver, chart_id):
    """Every bar and figure of a target chart stays inside the chart's box."""
    width = float(driver.find_element(By.ID, chart_id).get_dom_attribute("viewBox").split()[2])
    for rect in driver.find_elements(By.CSS_SELECTOR, f"#{chart_id} rect"):
        right = float(rect.get_dom_attribute("x")) + float(rect.get_dom_attribute("width"))
        assert right <= width, f"{chart_id}: a bar ends at {right}, past the box's {width}"
    for text in driver.find_elements(By.CSS_SELECTOR, f"#{chart_id} text.value"):
        assert float(text.get_dom_attribute("x")) + 120 <= width, f"{chart_id}: a figure starts too far right"


def poison_rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, f'tr.letter[data-message-id="{POISON}"]')


def http(method, path, cookie=None, data=None):
    """A request outside the browser (headers, a forged form); returns (status, headers, body)."""
    request = urllib.request.Request(URL + path, method=method, data=data)
    if cookie:
        request.add_header("Cookie", cookie)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    try:
        step("an anonymous visitor is sent to the sign-in page")
        driver.get(URL + "/")
        wait_until("the sign-in page", lambda: driver.current_url.endswith("/login"))

        step("wrong password is refused")
        driver.find_element(By.ID, "username").send_keys("viewer")
        driver.find_element(By.ID, "password").send_keys("wrong")
        driver.find_element(By.ID, "sign-in").click()
        wait_until("the refusal", lambda: "Nama pengguna atau kata sandi salah" in driver.page_source)
        driver.get(URL + "/login")
        driver.find_element(By.ID, "username").send_keys("tebakan-rahasia")
        driver.find_element(By.ID, "password").send_keys("wrong")
        driver.find_element(By.ID, "sign-in").click()
        wait_until("the second refusal", lambda: "Nama pengguna atau kata sandi salah" in driver.page_source)

        step("the viewer sees the funnel move while registrations flow")
        sign_in(driver, "viewer")
        first = count(driver, "registered")
        wait_until(
            "the registered count to grow", lambda: count(driver, "registered") > first, timeout=90, driver=driver, reload=True)

        def progress_page():
            registered = count(driver, "registered")
            assert driver.find_element(By.ID, "funnel-chart").is_displayed(), "the funnel chart is drawn"
            assert driver.find_element(By.ID, "centre-chart").is_displayed(), "the per-BLKI chart is drawn"
            assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "id", "the page is in Bahasa Indonesia"
            legend = driver.find_element(By.ID, "centre-chart-legend").text
            assert "Target" in legend and "Diterima" in legend and "Kompeten" in legend, legend
            for chart in ["centre-chart", "sector-chart", "apprenticeship-chart"]:
                bars_inside(driver, chart)
            meaning = driver.find_element(By.ID, "certified-meaning").text
            assert "sertifikat kompetensi BNSP" in meaning, "Kompeten is explained"
            no_swift_names(driver)
            return registered

        second = on_one_page(progress_page)
        step(f"registered {first} → {second}")
        shot(driver, "1-progress-viewer")

        step("security headers on every page")
        session_cookie = "kaltim_session=" + driver.get_cookie("kaltim_session")["value"]
        status, headers, _ = http("GET", "/", cookie=session_cookie)
        assert status == 200, status
        assert "default-src 'none'" in headers["Content-Security-Policy"], headers
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff", headers
        cookie = driver.get_cookie("kaltim_session")
        assert cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie

        step("the viewer sees the queues")
        driver.get(URL + "/queues")
        assert driver.find_element(By.CSS_SELECTOR, 'tr[data-role="console"]'), "the console's own queue is listed"
        # Registrations flow into the console's queue all along: once the console has read the
        # broker's counters for ten seconds, its rate is above zero (the management API's own
        # rate read 0,0 between its samples).
        def rate_in():
            text = driver.find_element(By.CSS_SELECTOR, 'tr[data-role="console"] td.rate-in').text
            return float(text.replace(".", "").replace(",", ".")) if text != "–" else None

        wait_until("a rate above zero for the console's queue", lambda: (rate_in() or 0) > 0, driver=driver, reload=True)
        no_swift_names(driver)
        shot(driver, "2-queues")

        step("the viewer finds the poison message, and is refused a replay")
        driver.get(URL + "/dead-letters")
        wait_until("the poison message listed", lambda: len(poison_rows(driver)) == 1, driver=driver, reload=True)
        button = driver.find_element(By.ID, "replay-selected")
        assert not button.is_enabled(), "the replay button is disabled for a viewer"
        # The server refuses too, whatever the page shows: submit the form with the button enabled.
        poison_rows(driver)[0].find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
        driver.execute_script("document.getElementById('replay-selected').disabled = false")
        driver.find_element(By.ID, "replay-selected").click()
        wait_until("the refusal", lambda: "Ini memerlukan peran operator atau admin" in driver.page_source)
        shot(driver, "3-viewer-refused")
        driver.get(URL + "/dead-letters")
        wait_until("the poison message still there", lambda: len(poison_rows(driver)) == 1)

        step("a form without its CSRF token is refused")
        status, _, body = http("POST", "/logout", cookie=session_cookie, data=b"")
        assert status == 403 and "CSRF" in body, (status, body[:300])
        status, _, body = http(
            "POST", "/logout", cookie=session_cookie, data=urllib.parse.urlencode({"csrf": "0" * 64}).encode())
        assert status == 403 and "CSRF" in body, (status, body[:300])
        driver.get(URL + "/")
        assert "viewer" in driver.find_element(By.ID, "whoami").text, "the forged sign-out did nothing"
        sign_out(driver)

        step("the operator opens the poison message: personal data masked")
        sign_in(driver, "operator")
        driver.get(URL + "/dead-letters/message?id=" + urllib.parse.quote(POISON))
        body = driver.find_element(By.ID, "body").text
        assert NIK not in driver.page_source, "the NIK is masked for an operator"
        assert "registration.submitted" in body, body[:300]
        assert not driver.find_elements(By.ID, "reveal"), "only an admin may reveal"
        shot(driver, "4-dead-letter-masked")

        step("the operator dry-runs, then replays it")
        driver.get(URL + "/dead-letters")
        poison_rows(driver)[0].find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
        driver.find_element(By.ID, "dry-run-selected").click()
        wait_until("the dry-run report", lambda: "akan dikirim ulang" in driver.page_source)
        assert POISON in driver.find_element(By.ID, "dry-run").text
        shot(driver, "5-dry-run")
        operator_cookie = "kaltim_session=" + driver.get_cookie("kaltim_session")["value"]
        status, _, page = http("GET", "/dead-letters", cookie=operator_cookie)
        assert status == 200 and f'data-message-id="{POISON}"' in page, "a dry run moves nothing"
        driver.find_element(By.ID, "confirm-replay").click()
        wait_until("the replay report", lambda: "1 dari 1 pesan dikirim ulang" in driver.page_source)
        shot(driver, "6-replayed")

        step("it left the dead letters and is in the audit log")
        driver.get(URL + "/dead-letters")
        wait_until("the poison message gone", lambda: len(poison_rows(driver)) == 0, driver=driver, reload=True)
        driver.get(URL + "/audit")
        audit = driver.find_element(By.ID, "audit").text
        assert "replay-dry-run" in audit and "operator (console)" in audit, audit[:500]
        first_time = driver.find_elements(By.CSS_SELECTOR, "#audit tr.entry td")[0].text
        assert first_time.endswith("WITA"), first_time
        no_swift_names(driver)
        assert any(
            row.find_elements(By.TAG_NAME, "td")[2].text == "replay"
            for row in driver.find_elements(By.CSS_SELECTOR, "#audit tr.entry")
        ), audit[:500]
        shot(driver, "7-audit")
        sign_out(driver)

        step("the admin reveals the personal data of a dead letter (audited)")
        sign_in(driver, "admin")
        shot(driver, "8-progress-admin")
        driver.get(URL + "/dead-letters/message?id=" + urllib.parse.quote(SECOND))
        assert NIK not in driver.page_source, "masked until revealed"
        driver.find_element(By.ID, "reveal").click()
        wait_until("the revealed body", lambda: NIK in driver.find_element(By.ID, "body").text)
        shot(driver, "9-revealed")

        step("the admin purges intake's dead letters, after typing the queue's name")
        driver.get(URL + "/dead-letters")
        # The name to type is on the form, before any mistake.
        dead_queue = driver.find_element(By.CSS_SELECTOR, '#purge-names tr[data-role="intake"] code').text
        assert dead_queue.endswith("kaltim.intake.dead"), dead_queue
        purge = driver.find_element(By.ID, "purge")
        purge.find_element(By.CSS_SELECTOR, "select[name=role] option[value=intake]").click()
        purge.find_element(By.NAME, "confirm").send_keys("wrong")
        purge.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until("the refusal", lambda: "Tidak dihapus" in driver.page_source)
        driver.get(URL + "/dead-letters")
        purge = driver.find_element(By.ID, "purge")
        purge.find_element(By.CSS_SELECTOR, "select[name=role] option[value=intake]").click()
        purge.find_element(By.NAME, "confirm").send_keys(dead_queue)
        purge.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until("the purge", lambda: "1 pesan gagal dihapus" in driver.page_source)
        driver.get(URL + "/audit")
        actions = [row.find_elements(By.TAG_NAME, "td")[2].text for row in driver.find_elements(By.CSS_SELECTOR, "#audit tr.entry")]
        assert "reveal" in actions and "purge" in actions, actions
        assert "console-sign-in-failed" in actions, actions  # the wrong password at the start
        audit_text = driver.find_element(By.ID, "audit").text
        assert "tebakan-rahasia" not in audit_text, "a typed name that is no account is never written"
        shot(driver, "10-audit-admin")
        # In a 1,400-pixel window the audit table (long replay ids, filters) stays on the page.
        driver.set_window_size(1400, 1000)
        driver.get(URL + "/audit")
        overflow = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " document.getElementById('audit').getBoundingClientRect().right]")
        assert overflow[0] <= overflow[1] and overflow[2] <= overflow[1], f"the audit table overflows: {overflow}"

        step("the admin opens the data subject's rights; a withdrawal with a mistyped number is refused")
        driver.find_element(By.LINK_TEXT, "Hak subjek data").click()
        wait_until("the page", lambda: "Penarikan persetujuan" in driver.page_source)
        form = driver.find_element(By.ID, "withdraw-consent")
        form.find_element(By.NAME, "registration").send_keys("REG-2025-000303")
        form.find_element(By.NAME, "confirm").send_keys("REG-2025-000304")
        form.find_element(By.CSS_SELECTOR, "select[name=by] option[value=pendaftar]").click()
        form.find_element(By.NAME, "reference").send_keys("PDP-2026-011")
        form.find_element(By.CSS_SELECTOR, "button").click()
        wait_until("the refusal", lambda: "ketikan ulangnya berbeda" in driver.page_source)
        shot(driver, "11-subject-rights-refused")
        sign_out(driver)
        step("the officer reads the reports and looks up a registration (audited)")
        sign_in(driver, "officer")
        driver.find_element(By.LINK_TEXT, "Laporan").click()
        wait_until("the report by BLKI and programme", lambda: driver.find_elements(By.ID, "report"))
        lines = driver.find_elements(By.CSS_SELECTOR, "#report tr.line")
        assert any("Mekanik Sepeda Motor" in line.text for line in lines), [line.text for line in lines]
        no_swift_names(driver)
        shot(driver, "12-reports-officer")
        driver.get(URL + "/laporan?menurut=umur")
        wait_until("the report by age band", lambda: driver.find_elements(By.ID, "report"))
        assert "--intake-store" not in driver.page_source, "the console reads intake's profiles"
        driver.get(URL + "/laporan")
        driver.find_element(By.CSS_SELECTOR, "#lookup input[name=nomor]").send_keys(LOOKUP)
        driver.find_element(By.CSS_SELECTOR, "#lookup button").click()
        wait_until("the registration's steps", lambda: driver.find_elements(By.ID, "registration"))
        steps = driver.find_element(By.ID, "registration").text
        assert LOOKUP in steps and "WITA" in steps, steps
        shot(driver, "13-lookup-officer")
        driver.get(URL + "/queues")
        assert "Ini memerlukan peran" in driver.page_source, "an officer has no operations pages"

        step("the officer opens a case masked, reveals it (audited) and approves it")
        driver.find_element(By.LINK_TEXT, "Verifikasi").click()
        wait_until("the case in the review queue", lambda: driver.find_elements(By.LINK_TEXT, REVIEW), driver=driver, reload=True)
        driver.find_element(By.LINK_TEXT, REVIEW).click()
        wait_until("the case file", lambda: driver.find_elements(By.ID, "reveal-case"))
        assert REVIEW_NAME not in driver.page_source and "BERBEDA" in driver.page_source, "masked until revealed"
        no_swift_names(driver)
        shot(driver, "13b-case-masked")
        driver.find_element(By.ID, "reveal-case").click()
        wait_until("the case revealed", lambda: REVIEW_NAME in driver.page_source)
        shot(driver, "13c-case-revealed")
        form = driver.find_element(By.ID, "decide")
        for box in form.find_elements(By.CSS_SELECTOR, "input[name=verified]"):
            box.click()
        form.find_element(By.CSS_SELECTOR, "input[name=decision][value=approve]").click()
        driver.find_element(By.ID, "send-decision").click()
        wait_until("the decision sent", lambda: "dicatat atas nama officer" in driver.page_source)
        assert driver.find_elements(By.ID, "sent-decisions"), "the case shows the decision sent"
        assert not driver.find_elements(By.ID, "send-decision"), "no second decision is offered"
        shot(driver, "13d-case-decided")
        sign_out(driver)

        step("the LSP coordinator sees her LSP's results and the refused submission, markup as text")
        sign_in(driver, "lsp")
        driver.find_element(By.LINK_TEXT, "Asesmen LSP").click()
        wait_until(
            "the graded and the refused submission",
            lambda: "ASM-B1" in driver.page_source and driver.find_elements(By.CSS_SELECTOR, 'tr.refused[data-assessment="ASM-B2"]'),
            driver=driver, reload=True)
        refused = driver.find_element(By.CSS_SELECTOR, 'tr.refused[data-assessment="ASM-B2"]').text
        assert "Unit <b>X.1</b> tidak ada di skema." in refused, refused
        assert "NO.OTO 0001 2025" in driver.page_source
        shot(driver, "14-lsp-desk")
        driver.get(URL + "/reviews")
        assert "Ini memerlukan peran" in driver.page_source, "an LSP coordinator has no review desk"
        driver.get(URL + "/laporan")
        assert not driver.find_elements(By.ID, "lookup"), "an LSP coordinator does not look up registrations"
        sign_out(driver)
        step("the BLKI administrator records daftar ulang and a withdrawal in her own BLKI's class")
        sign_in(driver, "blki")
        driver.find_element(By.LINK_TEXT, "Kelas BLKI").click()
        wait_until(
            "her BLKI's class",
            lambda: driver.find_elements(By.CSS_SELECTOR, f'tr.class[data-class="{BLKI_CLASS}"]'),
            driver=driver, reload=True)
        assert OTHER_CLASS not in driver.page_source, "another BLKI's class is shown"
        driver.find_element(By.LINK_TEXT, BLKI_CLASS).click()
        wait_until("the roster", lambda: driver.find_elements(By.ID, "roster"))

        def seat(participant):
            return driver.find_element(By.CSS_SELECTOR, f'tr.seat[data-participant="{participant}"]')

        def status(participant):
            return seat(participant).find_element(By.CSS_SELECTOR, "td.status").text

        assert "belum daftar ulang" in status(BLKI_FIRST), status(BLKI_FIRST)
        seat(BLKI_FIRST).find_element(By.CSS_SELECTOR, "button[value=attended]").click()
        # At once the page says it was sent, and offers no second daftar ulang for the seat.
        wait_until("daftar ulang sent", lambda: "daftar ulang dikirim: hadir" in status(BLKI_FIRST))
        assert "Dicatat atas nama blki" in driver.page_source
        assert not seat(BLKI_FIRST).find_elements(By.CSS_SELECTOR, "button[value=attended]")
        withdraw = seat(BLKI_SECOND).find_element(By.CSS_SELECTOR, "select[name=reason]").find_element(By.XPATH, "./..")
        withdraw.find_element(By.CSS_SELECTOR, "option[value=resigned]").click()
        withdraw.find_element(By.CSS_SELECTOR, "button").click()
        wait_until("the withdrawal sent", lambda: "pengunduran diri dikirim" in status(BLKI_SECOND))
        assert not seat(BLKI_SECOND).find_elements(By.CSS_SELECTOR, "select[name=reason]")
        assert not seat(BLKI_SECOND).find_elements(By.CSS_SELECTOR, "button[value=attended]")
        shot(driver, "15-blki-class-sent")
        # The daftar ulang comes back through the pipeline (the console's own event). The form
        # answered with a redirect to the roster (post/redirect/get), so reloading the page sends
        # nothing again, and the outcome of the form is shown only once.
        assert driver.current_url.endswith("/blki/class?id=" + urllib.parse.quote(BLKI_CLASS)), driver.current_url

        def recorded():
            driver.refresh()
            return "daftar ulang dicatat: hadir" in status(BLKI_FIRST)

        wait_until("daftar ulang recorded", recorded)
        assert "sudah dikirim sebelumnya" not in driver.page_source
        assert "Dicatat atas nama blki" not in driver.page_source, "the form's outcome is shown once"
        no_swift_names(driver)
        shot(driver, "16-blki-class")
        # The printable daftar hadir: a sheet per training week, as the printer gets it (the
        # print stylesheet hides the navigation and links; every sheet starts a new page).
        driver.find_element(By.ID, "attendance-sheet").click()
        wait_until("the attendance sheet", lambda: driver.find_elements(By.CSS_SELECTOR, "section.sheet"))
        sheets = driver.find_elements(By.CSS_SELECTOR, "section.sheet")
        assert all(s.find_elements(By.CSS_SELECTOR, f'tr.attendee[data-participant="{BLKI_FIRST}"]') for s in sheets)
        assert driver.find_elements(By.CSS_SELECTOR, "td.sign"), "no boxes to sign"
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        assert not driver.find_element(By.TAG_NAME, "nav").is_displayed(), "the navigation is printed"
        if len(sheets) > 1:
            assert driver.execute_script(
                "return getComputedStyle(document.querySelector('section.sheet')).breakAfter") == "page"
        no_swift_names(driver)
        shot(driver, "16b-blki-daftar-hadir-cetak")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        driver.get(URL + f"/blki/class?id={OTHER_CLASS}")
        assert "tidak ada di BLKI Anda" in driver.page_source, "another BLKI's roster is shown"
        driver.get(URL + "/dead-letters")
        assert "Ini memerlukan peran" in driver.page_source, "a BLKI administrator has no operations pages"
        sign_out(driver)
        step("every step passed")
    except Exception as error:
        try:
            shot(driver, "failure")
        finally:
            print(f"browser: FAILED: {error!r}", file=sys.stderr, flush=True)
        return 1
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
