#!/usr/bin/env python3
"""The public certificate verification service in a real browser (headless Chromium, Selenium).

Run by VerificationBrowserTests (Swift), which issues certificates into a store and starts
`kaltim-console verification` on it. Environment:

  VERIFY_URL     e.g. http://127.0.0.1:8123
  VALID_CODE     a valid certificate's verification code
  REVOKED_CODE   a revoked one's
  FULL_NAME      the valid certificate's holder (must never be shown in full)
  PARTICIPANT    their participant id (must never be shown)
  SCREENSHOTS    folder for the screenshots

Exit 0 when every step passed; otherwise the failed step is printed and the exit is 1.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL = os.environ["VERIFY_URL"].rstrip("/")
VALID = os.environ["VALID_CODE"]
REVOKED = os.environ["REVOKED_CODE"]
FULL_NAME = os.environ["FULL_NAME"]
GUESSED = os.environ["GUESSED_CODE"]
PARTICIPANT = os.environ["PARTICIPANT"]
SHOTS = os.environ.get("SCREENSHOTS", ".")
os.makedirs(SHOTS, exist_ok=True)


def step(text):
    print(f"browser: {text}", flush=True)


def shot(driver, name):
    path = os.path.join(SHOTS, f"{name}.png")
    driver.save_screenshot(path)
    step(f"screenshot {path}")


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def status_text(driver, timeout=30.0):
    # After a click the new page may not be there yet: ask until it is (the deadline only
    # bounds a failure).
    deadline = time.monotonic() + timeout
    while True:
        try:
            return driver.find_element(By.ID, "status").text
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def fetch(path):
    try:
        with urllib.request.urlopen(URL + path, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def api(code):
    try:
        with urllib.request.urlopen(URL + "/api/v/" + urllib.parse.quote(code, safe=""), timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def main():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1000,900"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    try:
        step("an employer types the code from a certificate into the form")
        driver.get(URL + "/")
        field = driver.find_element(By.ID, "kode")
        field.send_keys("  " + VALID + " ")  # pasted with blanks around it
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        check(status_text(driver) == "SAH", f"status {status_text(driver)!r}")
        page = driver.page_source
        first = FULL_NAME.split()[0]
        check(f"{first} {FULL_NAME.split()[1][0]}." in page, "the masked name is shown")
        check(FULL_NAME not in page, "the full name is never shown")
        check(PARTICIPANT not in page, "the participant id is never shown")
        check("Tanggal terbit" in page and "Agustus 2025" in page, "the date in Indonesian")
        shot(driver, "verification-valid")

        step("the QR code's address of a revoked certificate")
        driver.get(URL + "/v/" + REVOKED)
        check(status_text(driver) == "DICABUT", f"status {status_text(driver)!r}")
        shot(driver, "verification-revoked")

        step("a code that names no certificate")
        driver.get(URL + "/v/BPN-2025-PBK-99999.AAAAAAAAAAAAAAAA")
        check(status_text(driver) == "TIDAK DITEMUKAN", f"status {status_text(driver)!r}")
        check("Nama pemegang" not in driver.page_source, "nothing else is shown")
        shot(driver, "verification-unknown")

        step("a code that is markup stays text")
        driver.get(URL + "/v?kode=" + urllib.parse.quote('"><script>document.title="x"</script>'))
        check(status_text(driver) == "TIDAK DITEMUKAN", "unknown")
        check(driver.find_elements(By.TAG_NAME, "script") == [], "no script element")
        # A quote and brackets joined to combining marks (U+0301) and a prepended sign (U+0600):
        # one character each to an escaper that compares characters, still markup to the browser.
        sneaky = '"\u0301>\u0301\u0600<b id="injected">SAH</b>\u0301'
        driver.get(URL + "/v?kode=" + urllib.parse.quote(sneaky))
        check(status_text(driver) == "TIDAK DITEMUKAN", "unknown")
        check(driver.find_elements(By.ID, "injected") == [], "no element from the code")
        check(driver.find_element(By.ID, "kode").get_attribute("value") == sneaky, "the code stays the field's text")

        step("a guessed check part on an existing id answers exactly as an id that does not exist")
        guessed = fetch("/api/v/" + GUESSED)
        missing = fetch("/api/v/BPN-2025-PBK-99999.AAAAAAAAAAAAAAAA")
        check(guessed[0] == missing[0] == 200 and guessed[2] == missing[2], f"{guessed} vs {missing}")
        status, headers, _ = fetch("/v/" + VALID)
        policy = headers.get("Content-Security-Policy", "")
        check("default-src 'none'" in policy and headers.get("X-Frame-Options") == "DENY", f"headers {headers}")

        step("the JSON answer holds only the status, masked name, programme, issuer and dates")
        status, _, body = api(VALID)
        check(status == 200 and body["status"] == "VALID", f"{status} {body}")
        allowed = {"status", "certificateID", "kind", "holder", "programme", "issuer", "issuedOn", "validUntil", "qualification"}
        check(set(body) <= allowed, f"fields {sorted(body)}")
        check(FULL_NAME not in json.dumps(body) and PARTICIPANT not in json.dumps(body), "no full name or participant id")

        step("the rate limit answers 429 with Retry-After, and the page says so")
        for _ in range(40):
            status, headers, _ = api(VALID)
            if status == 429:
                break
        check(status == 429, "no 429 after 40 requests")
        check(headers.get("Retry-After") == "60", f"Retry-After {headers.get('Retry-After')!r}")
        # The page says so too (asked until it does: a slow machine may have refilled a token
        # between the two requests, and each page spends one).
        for _ in range(40):
            driver.get(URL + "/v/" + VALID)
            if status_text(driver) == "TERLALU BANYAK PERMINTAAN":
                break
        check(status_text(driver) == "TERLALU BANYAK PERMINTAAN", f"status {status_text(driver)!r}")
        shot(driver, "verification-rate-limited")
        step("all steps passed")
    except Exception as error:  # the failed step is printed for the Swift test
        step(f"FAILED: {error}")
        try:
            shot(driver, "verification-failure")
        except Exception:
            pass
        sys.exit(1)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
