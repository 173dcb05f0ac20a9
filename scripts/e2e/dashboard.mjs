// dashboard.mjs PHASE — drives the medledger web dashboard in Debian's
// chromium with playwright-core, one phase of the end-to-end story per
// run (internal/web/e2e_test.go runs the phases in order against a real
// node and creates the test alert between them).
//
// Environment:
//   E2E_BASE      the node's base URL (http://127.0.0.1:PORT)
//   E2E_OUT       directory for screenshots (artifacts)
//   E2E_CHROMIUM  the chromium executable
//   E2E_DATA      JSON: {"patient": FHIR id, "family": name to search,
//                 "clinician": practitioner id, "org": organisation id}
//
// Prints one JSON line {"phase", "ok", "screenshots", "steps"} and exits
// 0, or prints the failure and exits 1 (with a screenshot of the page as
// it was, named PHASE-failure.png).
import { chromium } from "playwright-core";
import path from "node:path";
import fs from "node:fs";

const phase = process.argv[2];
const base = process.env.E2E_BASE;
const out = process.env.E2E_OUT;
const data = JSON.parse(process.env.E2E_DATA || "{}");
const steps = [];
const shots = [];

function step(s) {
  steps.push(s);
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function text(page, sel) {
  return (await page.locator(sel).first().innerText()).trim();
}

async function shot(page, name) {
  const file = path.join(out, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

// signIn goes through the dashboard's sign-in: the start page, the node's
// OAuth sign-in page with its demo picker, back to the dashboard.
async function signIn(page, label) {
  await page.goto(base + "/");
  await page.getByRole("link", { name: "Sign in" }).click();
  await page.waitForURL(/\/auth\/authorize/);
  await page.getByRole("button", { name: new RegExp("^" + label) }).click();
  await page.waitForURL(base + "/app/");
  expect((await page.title()).startsWith("Overview"), "after sign-in the overview shows");
  step(`signed in as ${label}`);
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/\?signed-out=1$/);
  step("signed out");
}

// menu follows a link of the main menu.
async function menu(page, name) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();
}

async function flash(page) {
  return (await page.locator(".flash").allInnerTexts()).join(" ");
}

const phases = {
  // The administrator writes a policy: a rule with a mistake is refused
  // with its position before anything is saved; the corrected one is set
  // on the ledger. (The rule lets patients record their own consents.)
  async "admin-policy"(page) {
    await signIn(page, "Administrator");
    await menu(page, "Policies");
    await page.getByRole("link", { name: "consent.permit.custom" }).click();
    const rule = page.getByLabel("New rule (CEL)");
    await rule.fill('request.type == "Consent" &&');
    await page.getByRole("button", { name: "Check" }).click();
    await page.waitForSelector("#check-result .bad");
    const msg = await text(page, "#check-result");
    expect(/does not check/.test(msg) && /line 1, column/.test(msg), "an invalid rule shows its problem with its position: " + msg);
    step("invalid rule refused before saving: " + msg.replace(/\s+/g, " ").slice(0, 120));
    await shot(page, "admin-policy-invalid");
    await rule.fill(
      'patient.in_compartment && actor.patient != "" && actor.patient == patient.id && ' +
        'request.type == "Consent" && request.interaction in ["create", "update"]'
    );
    await page.getByRole("button", { name: "Save on the ledger" }).click();
    await page.waitForURL(/\/app\/admin\/policies\/consent\.permit\.custom$/);
    expect(/set on the ledger/.test(await flash(page)), "the policy is saved on the ledger");
    expect(/changed from the default/.test(await page.locator(".facts").first().innerText()), "the page shows the new rule in force");
    step("valid rule saved on the ledger");
    await shot(page, "admin-policy-saved");
    await menu(page, "Members and organisations");
    expect(await page.getByRole("cell", { name: data.org + "/demo-patient" }).count() === 1, "members list the demo patient");
    await menu(page, "AI models");
    expect(await page.getByRole("heading", { name: /^AI models$/ }).count() === 1, "the models page shows");
    await shot(page, "admin-models");
    await signOut(page);
  },

  // The patient reads their record, opens a ledger proof, checks the
  // keyboard path, and grants the clinician access for treatment.
  async "patient-grant"(page) {
    await signIn(page, "Patient");
    // Keyboard: the first Tab reaches the skip link, which moves focus to
    // the main content.
    await page.keyboard.press("Tab");
    expect((await page.evaluate(() => document.activeElement.textContent)) === "Skip to main content", "Tab reaches the skip link first");
    await page.keyboard.press("Enter");
    expect((await page.evaluate(() => document.activeElement.id)) === "main", "the skip link moves focus to the main content");
    step("keyboard: skip link works");
    await menu(page, "My record");
    const entries = await page.locator(".timeline .entry").count();
    expect(entries > 3, `the timeline shows the record (${entries} entries)`);
    step(`timeline with ${entries} entries`);
    await shot(page, "patient-record");
    await page.locator(".timeline .entry a.verified").first().click();
    await page.waitForURL(/\/app\/verify\//);
    const proof = await page.locator("main").innerText();
    expect(/The stored record matches its anchor/.test(proof) && /Verified on the ledger\./.test(proof), "the record's proof verifies");
    step("record version verified against its anchor and inclusion proof");
    await shot(page, "patient-record-proof");
    await menu(page, "My consents");
    await page.getByLabel("A clinician").check();
    await page.getByLabel("Their id").fill(data.clinician);
    await page.getByLabel("For what purpose").selectOption("TREAT");
    await page.getByRole("button", { name: "Grant access" }).click();
    await page.waitForURL(base + "/app/consents");
    const f = await flash(page);
    expect(/Consent recorded on the ledger/.test(f), "the consent is recorded: " + f + " " + (await page.locator("main").innerText()).slice(0, 400));
    expect((await page.getByRole("button", { name: /Revoke the consent for Clinician/ }).count()) === 1, "the consent is listed as active");
    step("consent granted to Practitioner/" + data.clinician);
    await shot(page, "patient-consent-granted");
    await signOut(page);
  },

  // The clinician finds the patient and opens the record, with the reason.
  async "clinician-read"(page) {
    await signIn(page, "Clinician");
    await menu(page, "Patients");
    await page.getByLabel("Search by name").fill(data.family);
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForSelector(`a[href="/app/patients/${data.patient}"]`);
    await page.locator(`a[href="/app/patients/${data.patient}"]`).click();
    await page.waitForURL(base + "/app/patients/" + data.patient);
    const why = await text(page, "section.why");
    expect(/consent/i.test(why), "the reason names the consent: " + why);
    expect((await page.locator(".timeline .entry").count()) > 3, "the record shows");
    step("record opened; reason: " + why.replace(/\s+/g, " ").slice(0, 160));
    await shot(page, "clinician-record");
    await signOut(page);
  },

  // The patient sees the clinician's access, then revokes the consent.
  async "patient-log-revoke"(page) {
    await signIn(page, "Patient");
    await menu(page, "Who looked at my record");
    const row = page.locator("table.events tbody tr", { hasText: data.org + "/demo-clinician" }).first();
    await row.waitFor();
    const r = await row.innerText();
    expect(/allowed/.test(r) && /Treatment/.test(r) && /verified/.test(r), "the clinician's access is listed, allowed, for treatment, verified: " + r);
    step("access log: " + r.replace(/\s+/g, " ").slice(0, 160));
    await shot(page, "patient-access-log");
    await row.getByRole("link", { name: /verified/ }).click();
    await page.waitForURL(/\/app\/audit\//);
    expect(/Verified on the ledger\./.test(await page.locator("main").innerText()), "the audit event's proof verifies");
    await menu(page, "My consents");
    await page.getByRole("button", { name: /Revoke the consent for Clinician/ }).click();
    await page.waitForURL(base + "/app/consents");
    expect(/Consent revoked/.test(await flash(page)), "the consent is revoked");
    expect((await page.getByRole("button", { name: /Revoke the consent/ }).count()) === 0, "no consent is active");
    step("consent revoked");
    await shot(page, "patient-consent-revoked");
    await signOut(page);
  },

  // The clinician is refused after the revocation, and declares an
  // emergency with a reason and the warning shown.
  async "clinician-refused"(page) {
    await signIn(page, "Clinician");
    await page.goto(base + "/app/patients/" + data.patient);
    expect(/No access to this record/.test(await text(page, "h1")), "the clinician is refused");
    step("refused after revocation");
    await shot(page, "clinician-refused");
    await page.getByRole("link", { name: "Declare an emergency for this patient" }).click();
    expect(/use only in a real emergency/.test(await text(page, ".warning")), "the warning shows");
    await page.getByLabel("Reason (required)").fill("Unconscious in the emergency department, allergies unknown");
    await page.getByLabel("I understand that this access is recorded and will be reviewed.").check();
    await page.getByRole("button", { name: "Declare the emergency and open the record" }).click();
    await page.waitForURL(base + "/app/patients/" + data.patient);
    expect(/Emergency access/.test(await text(page, "section.why")), "the record shows under emergency access");
    step("break-glass declared with a reason; record open, flagged");
    await shot(page, "clinician-break-glass");
    await signOut(page);
  },

  // The privacy officer reviews the alert about the clinician: the
  // accesses behind it, acknowledge, resolve with a note; and the chart.
  async "officer-alert"(page) {
    await signIn(page, "Privacy officer");
    await menu(page, "Alerts");
    const link = page.locator("table tbody tr", { hasText: data.org + "/demo-clinician" }).first().getByRole("link");
    await link.click();
    await page.waitForURL(/\/app\/alerts\/[0-9a-f]{32}$/);
    const main = await page.locator("main").innerText();
    expect(/open/.test(await text(page, ".facts dd")) && /Reasons/.test(main), "the alert shows its status and reasons");
    expect((await page.locator("table.events tbody tr").count()) > 0, "the accesses behind the alert are listed");
    step("alert opened with " + (await page.locator("table.events tbody tr").count()) + " accesses");
    await page.getByLabel("Note (optional)").fill("Case 2026-014 opened");
    await page.getByRole("button", { name: /Acknowledge/ }).click();
    expect(/acknowledged/.test(await flash(page)), "acknowledged");
    await page.getByLabel(/True positive/).check();
    await page.getByLabel("Note (required)").fill("Case 2026-014: emergency not confirmed by the ED log");
    await page.getByRole("button", { name: "Resolve the alert" }).click();
    expect(/resolved/.test(await flash(page)), "resolved");
    expect(/resolved/.test(await text(page, ".facts dd")), "the alert is resolved");
    step("alert acknowledged and resolved (true positive) with notes");
    await shot(page, "officer-alert-resolved");
    await menu(page, "Access volume");
    await page.waitForSelector("#volume-chart canvas");
    expect((await page.locator("#volume-table tbody tr").count()) === 14, "the table lists 14 days");
    step("access volume chart drawn");
    await shot(page, "officer-activity");
    await signOut(page);
  },

  // The ledger explorer: the signed tree head, a block, a transaction's
  // inclusion proof, and the whole-ledger check.
  async explorer(page) {
    await signIn(page, "Privacy officer");
    await menu(page, "Ledger explorer");
    expect(/signature verifies/.test(await page.locator("main").innerText()), "the tree head verifies");
    await page.locator("table tbody tr a").first().click();
    await page.waitForURL(/\/app\/ledger\/blocks\/\d+$/);
    expect(/signature verifies/.test(await page.locator("main").innerText()), "the block's signature verifies");
    await page.locator("table tbody tr a").first().click();
    await page.waitForURL(/\/app\/ledger\/tx\/[0-9a-f]{64}$/);
    expect(/Verified on the ledger\./.test(await page.locator("main").innerText()), "the transaction's inclusion proof verifies");
    await page.waitForSelector("#browser-check-result");
    const own = await text(page, "#browser-check-result");
    expect(/Your browser checked it too/.test(own), "the browser's own check of the proof passes: " + own);
    step("transaction inclusion proof verified against the signed tree head, by the server and by the browser itself");
    await shot(page, "explorer-tx-proof");
    // An early transaction has a longer audit path, with left and right
    // siblings: the browser's check must pass there too.
    await page.goto(base + "/app/ledger/blocks/3");
    await page.locator("table tbody tr a").first().click();
    await page.waitForSelector("#browser-check-result");
    expect(/Your browser checked it too/.test(await text(page, "#browser-check-result")), "the browser checks an early transaction's proof");
    await menu(page, "Ledger explorer");
    await page.getByRole("button", { name: "Verify the whole ledger" }).click();
    await page.waitForSelector("#verify-result", { timeout: 60000 });
    const res = await text(page, "#verify-result");
    expect(/The whole ledger verifies/.test(res), "the whole ledger verifies: " + res);
    step(res.replace(/\s+/g, " ").slice(0, 160));
    await shot(page, "explorer-verified");
    await signOut(page);
  },

  // Without JavaScript, the pages read and the forms work.
  async nojs(page) {
    await signIn(page, "Patient");
    await menu(page, "My record");
    expect((await page.locator(".timeline .entry").count()) > 3, "the record reads without JavaScript");
    await menu(page, "Who looked at my record");
    expect((await page.locator("table.events tbody tr").count()) > 0, "the access log reads without JavaScript");
    step("record and access log read without JavaScript");
    await shot(page, "nojs-access-log");
    await signOut(page);
  },
};

async function main() {
  const run = phases[phase];
  if (!run) {
    console.error("unknown phase " + phase + "; phases: " + Object.keys(phases).join(", "));
    process.exit(2);
  }
  fs.mkdirSync(out, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.E2E_CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  const context = await browser.newContext({ javaScriptEnabled: phase !== "nojs", viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const problems = [];
  // Errors the browser reports: script errors, CSP violations, and
  // failed sub-resources (a page itself may be an intended 404).
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) problems.push("console error: " + m.text());
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== "document") problems.push(`${r.status()} for ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}: ${r.failure()?.errorText}`));
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  try {
    await run(page);
    expect(problems.length === 0, "the browser reported: " + problems.join("; "));
    console.log(JSON.stringify({ phase, ok: true, screenshots: shots, steps }));
  } catch (e) {
    try {
      await shot(page, phase + "-failure");
    } catch {}
    console.log(JSON.stringify({ phase, ok: false, error: String(e.message || e), url: page.url(), screenshots: shots, steps, problems }));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main();
