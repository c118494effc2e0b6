// dashboard_browser.mjs — drives Debian's Chromium (headless, through npm playwright-core)
// against the dashboard of a running `inferd serve`, gateway and key-protected server.
// Usage: node dashboard_browser.mjs CONFIG_JSON
//   {"chromium": path, "root": repo root, "server": url, "gateway": url, "admin": url,
//    "admin_key": key, "llm": model, "tensor": model, "channel": id}
// Prints one "ok: ..." or "FAIL: ..." line per check and exits non-zero on any failure.
// Every wait polls a DOM condition with a generous deadline; nothing depends on timings.
import { createRequire } from "node:module";

const cfg = JSON.parse(process.argv[2]);
const require = createRequire(import.meta.url);
const { chromium } = require(cfg.root + "/node_modules/playwright-core");

const WAIT = 60000;
let failures = 0;
function check(cond, what) {
  console.log((cond ? "ok: " : "FAIL: ") + what);
  if (!cond) failures++;
  return cond;
}

// Console errors and uncaught exceptions of a page. A 404 from /api/alerts (no alert rules
// loaded) and, on the key-protected page, a 401 from /api/dashboard are expected answers:
// Chromium logs every non-2xx fetch as "Failed to load resource".
function watch(page, allowed) {
  const errors = [];
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const url = (m.location() && m.location().url) || "";
    if (/Failed to load resource/.test(m.text()) && allowed.some((re) => re.test(url))) return;
    errors.push(m.text() + " @ " + url);
  });
  page.on("pageerror", (e) => errors.push("uncaught: " + e.message));
  return errors;
}

async function post(url, body) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  await r.arrayBuffer();
  return r.status;
}

const v2body = { inputs: [{ name: "x", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] };
const chatBody = (model) => ({ model, messages: [{ role: "user", content: "Hello" }], max_tokens: 8 });

const attr = (page, sel, name) => page.$eval(sel, (e, n) => e.getAttribute(n), name).catch(() => null);
const waitAttrAtLeast = (page, sel, name, n) =>
  page.waitForFunction(([s, a, v]) => { const e = document.querySelector(s); return e && Number(e.getAttribute(a)) >= v; },
    [sel, name, n], { timeout: WAIT }).then(() => true, () => false);

const browser = await chromium.launch({ executablePath: cfg.chromium, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
try {
  // ---- server ----
  {
    const page = await browser.newPage();
    const errors = watch(page, [/\/api\/alerts$/]);
    await page.goto(cfg.server + "/");
    check(await waitAttrAtLeast(page, "body", "data-polls", 1), "server page loaded its data");
    check(await attr(page, "body", "data-kind") === "server", "the page says it is a server");
    check(await page.$(`tr[data-model="${cfg.llm}"]`) !== null, "models table lists the LLM");
    check(await page.$(`tr[data-model="${cfg.tensor}"]`) !== null, "models table lists the tensor model");
    const before = Number(await attr(page, `.series[data-key="model:${cfg.tensor}"]`, "data-requests") || 0);
    for (let i = 0; i < 6; i++) check(await post(cfg.server + `/v2/models/${cfg.tensor}/infer`, v2body) === 200, "v2 infer " + i);
    for (let i = 0; i < 3; i++) check(await post(cfg.server + "/v1/chat/completions", chatBody(cfg.llm)) === 200, "chat " + i);
    check(await waitAttrAtLeast(page, `.series[data-key="model:${cfg.tensor}"]`, "data-requests", before + 6),
      `tensor model's chart counted the 6 requests (before: ${before})`);
    check(await waitAttrAtLeast(page, `.series[data-key="model:${cfg.llm}"]`, "data-tokens", 1),
      "LLM chart counted generated tokens");
    const u1 = Number(await attr(page, `.series[data-key="model:${cfg.tensor}"]`, "data-updates"));
    check(await waitAttrAtLeast(page, `.series[data-key="model:${cfg.tensor}"]`, "data-updates", u1 + 2),
      "charts keep updating");
    const p95 = await attr(page, `.series[data-key="model:${cfg.tensor}"]`, "data-p95");
    check(p95 !== "" && Number(p95) > 0, "latency p95 shown: " + p95);
    check(await page.waitForFunction(() => ["none", "ok"].includes(document.getElementById("alerts").dataset.state),
      null, { timeout: WAIT }).then(() => true, () => false), "alerts section answered");

    // playground: streamed chat
    await page.waitForFunction((m) => [...document.querySelectorAll("#chat-model option")].some((o) => o.value === m),
      cfg.llm, { timeout: WAIT });
    await page.selectOption("#chat-model", cfg.llm);
    await page.fill("#chat-max", "32");
    await page.fill("#chat-input", "Once upon a time");
    await page.click("#chat-send");
    await page.waitForSelector('#chat-out[data-done="true"]', { timeout: WAIT });
    // the tiny model may put several tokens in one event when the page reads slowly, so
    // the growth over several events is checked on the gateway's held-open stream below
    const events = Number(await attr(page, "#chat-out", "data-events"));
    const lengths = ((await attr(page, "#chat-out", "data-lengths")) || "").split(",").map(Number);
    const text = await page.textContent("#chat-out");
    check(!(await page.textContent("#chat-error")), "chat: no error: " + (await page.textContent("#chat-error")));
    check(events >= 1 && Number(await attr(page, "#chat-out", "data-completion-tokens")) > 0,
      `chat streamed ${events} events with usage`);
    check(lengths.every((n, i) => i === 0 || n > lengths[i - 1]), "text grew on every event: " + lengths);
    check(text.length > 0 && text.length === lengths[lengths.length - 1], "final text shown: " + JSON.stringify(text));
    check(await page.$eval("#chat-log", (e) => e.children.length) === 2, "conversation shows both turns");

    // playground: v2 form from the model's metadata
    await page.selectOption("#v2-model", cfg.tensor);
    await page.waitForSelector('#v2-inputs fieldset[data-input="x"]', { timeout: WAIT });
    check(await page.inputValue('fieldset[data-input="x"] .v2-shape') === "1, 4", "v2 form: shape from metadata");
    await page.fill('fieldset[data-input="x"] .v2-data', "1, 2, 3, 4");
    await page.click("#v2-send");
    check(await page.waitForSelector('#v2-out[data-outputs="1"]', { timeout: WAIT }).then(() => true, () => false),
      "v2 form: outputs shown: " + (await page.textContent("#v2-error")));
    check(/^y FP32 \[1, 3\]/.test(await page.textContent("#v2-out")), "v2 output y [1, 3]: " + (await page.textContent("#v2-out")));
    check(errors.length === 0, "server page: no console errors: " + JSON.stringify(errors));
    await page.close();
  }

  // ---- gateway ----
  {
    const page = await browser.newPage();
    const errors = watch(page, [/\/api\/alerts$/]);
    await page.goto(cfg.gateway + "/");
    check(await waitAttrAtLeast(page, "body", "data-polls", 1), "gateway page loaded its data");
    check(await attr(page, "body", "data-kind") === "gateway", "the page says it is a gateway");
    check(await page.waitForSelector(`tr[data-channel="${cfg.channel}"][data-state="healthy"]`, { timeout: WAIT })
      .then(() => true, () => false), "channels table shows the channel, healthy");
    const score = Number(await attr(page, `tr[data-channel="${cfg.channel}"]`, "data-score"));
    check(score > 0 && score <= 1, "channel score shown: " + score);
    for (let i = 0; i < 4; i++) check(await post(cfg.gateway + `/v2/models/${cfg.tensor}/infer`, v2body) === 200, "gateway v2 infer " + i);
    check(await waitAttrAtLeast(page, `.series[data-key="model:${cfg.tensor}"]`, "data-requests", 4), "gateway model chart counted requests");
    check(await waitAttrAtLeast(page, `.series[data-key="channel:${cfg.channel}"]`, "data-requests", 4), "gateway channel chart counted attempts");

    // playground through the gateway: a stream that holds after three tokens
    await page.waitForFunction((m) => [...document.querySelectorAll("#chat-model option")].some((o) => o.value === m),
      cfg.slow_llm, { timeout: WAIT });
    await page.selectOption("#chat-model", cfg.slow_llm);
    await page.fill("#chat-input", "Tell me a story");
    await page.click("#chat-send");
    const held = await page.waitForFunction(() => {
      const o = document.getElementById("chat-out");
      return o.dataset.done === "false" && Number(o.dataset.events) >= 3;
    }, null, { timeout: WAIT }).then(() => true, () => false);
    const first = cfg.slow_pieces.slice(0, 3).join("");
    check(held && await page.textContent("#chat-out") === first, "streamed text shown while the stream is open: " +
      JSON.stringify(await page.textContent("#chat-out")));
    await fetch(cfg.release);
    await page.waitForSelector('#chat-out[data-done="true"]', { timeout: WAIT });
    const lens = ((await attr(page, "#chat-out", "data-lengths")) || "").split(",").map(Number);
    check(lens.length === cfg.slow_pieces.length && lens.every((n, i) => i === 0 || n > lens[i - 1]),
      "text grew on each of the 6 token events: " + lens);
    check(await page.textContent("#chat-out") === cfg.slow_pieces.join(""), "whole streamed text: " +
      JSON.stringify(await page.textContent("#chat-out")));
    check(!(await page.textContent("#chat-error")), "gateway chat: no error");
    check(errors.length === 0, "gateway page: no console errors: " + JSON.stringify(errors));
    await page.close();
  }

  // ---- admin key ----
  {
    const page = await browser.newPage();
    const errors = watch(page, [/\/api\/alerts$/, /\/api\/dashboard/]);
    await page.goto(cfg.admin + "/");
    check(await page.waitForSelector("#login:not([hidden])", { timeout: WAIT }).then(() => true, () => false),
      "key-protected page asks for the key");
    check(await page.isHidden("#main"), "no data shown without the key");
    await page.fill("#login-key", "wrong-key");
    await page.click("#login-form button");
    check(await page.waitForFunction(() => /refused/.test(document.getElementById("login-error").textContent), null,
      { timeout: WAIT }).then(() => true, () => false), "a wrong key is refused");
    await page.fill("#login-key", cfg.admin_key);
    await page.click("#login-form button");
    check(await waitAttrAtLeast(page, "body", "data-polls", 1), "with the key the dashboard loads");
    check(await page.isVisible("#main") && await page.isHidden("#login"), "login form gone, dashboard shown");
    check(errors.length === 0, "admin page: no console errors: " + JSON.stringify(errors));
    await page.close();
  }
} catch (e) {
  check(false, "browser run: " + (e.stack || e));
} finally {
  await browser.close();
}
console.log(failures ? `${failures} browser checks failed` : "all browser checks passed");
process.exit(failures ? 1 : 0);
