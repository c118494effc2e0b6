// client_check.mjs — what the npm-client scripts (test_*_client.mjs) share: where the
// packages are, the chat they send, check() that counts failures, and report() that prints
// what the script saw as one JSON line and exits non-zero after any failure.
import { createRequire } from "module";

export const require = createRequire(import.meta.url);
export const root = process.env.INFERD_ROOT || new URL("../..", import.meta.url).pathname;
export const messages = [
  { role: "system", content: "You are a poet." },
  { role: "user", content: "Echoes of" },
];

let failures = 0;
export function check(cond, what) {
  if (!cond) {
    failures++;
    console.error("FAIL:", what);
  }
}

export function report(out) {
  console.log(JSON.stringify(out));
  process.exit(failures ? 1 : 0);
}
