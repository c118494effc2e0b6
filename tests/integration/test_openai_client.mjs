// test_openai_client.mjs — the official `openai` npm client, unchanged, against inferd:
// chat (plain and streaming with usage), completions (plain and streaming), embeddings,
// models, structured outputs (response_format), tool calls, and an error. Usage: node test_openai_client.mjs http://127.0.0.1:PORT/v1 MODEL TOOL_MODEL
// (TOOL_MODEL: a model with a tool-calling chat template and a context that holds the tools).
// Prints one JSON object with what it saw; exits non-zero on any failure.
import { check, messages, report, require, root } from "./client_check.mjs";

const OpenAI = require(root + "/node_modules/openai").default;

const [baseURL, model, toolModel] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "sk-unused", maxRetries: 0, timeout: 60000 });
const out = {};

const chat = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0 });
out.chat = chat.choices[0].message.content;
check(chat.object === "chat.completion", "chat object");
check(chat.choices[0].message.role === "assistant", "assistant role");
check(chat.usage && chat.usage.completion_tokens > 0, "chat usage");

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let text = "", usage = null, finish = null, chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    text += c.delta.content || "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
out.chat_stream = text;
check(text === out.chat, "chat stream text equals the non-streamed text");
check(usage && usage.completion_tokens === chat.usage.completion_tokens, "stream usage chunk");
check(finish === chat.choices[0].finish_reason, "stream finish_reason");
check(chunks >= 3, "several chunks");

const comp = await client.completions.create({ model, prompt: "The", max_tokens: 48, temperature: 0 });
out.completion = comp.choices[0].text;
check(comp.object === "text_completion", "completion object");
const cstream = await client.completions.create({ model, prompt: "The", max_tokens: 48, temperature: 0, stream: true });
let ctext = "";
for await (const chunk of cstream) for (const c of chunk.choices) ctext += c.text || "";
out.completion_stream = ctext;
check(ctext === out.completion, "completion stream equals non-stream");

const emb = await client.embeddings.create({ model, input: ["hello", "world"] });
check(emb.data.length === 2, "two embeddings");
out.embedding_dims = emb.data[0].embedding.length;
const norm = Math.sqrt(emb.data[0].embedding.reduce((a, x) => a + x * x, 0));
check(Math.abs(norm - 1) < 1e-3, "normalised embedding (client decodes base64 by default)");

const models = await client.models.list();
out.models = models.data.map((m) => m.id);
check(out.models.includes(model), "models.list has the model");
const one = await client.models.retrieve(model);
check(one.id === model && one.object === "model", "models.retrieve gives the model");

try {
  await client.chat.completions.create({ model: "no-such-model", messages });
  check(false, "unknown model must throw");
} catch (e) {
  out.error_status = e.status;
  check(e.status === 404, "404 for an unknown model");
  check(e.error && e.error.code === "model_not_found", "error code model_not_found");
}
// sampling parameters: n choices with their index, seed, logit_bias, penalties, echo
const multi = await client.completions.create({
  model, prompt: "The", max_tokens: 8, temperature: 0.9, n: 2, seed: 5, logit_bias: { "100": -100 },
  frequency_penalty: 0.5, presence_penalty: 0.5,
});
check(multi.choices.length === 2 && multi.choices.every((c, i) => c.index === i), "n=2 gives two indexed choices");
const again = await client.completions.create({
  model, prompt: "The", max_tokens: 8, temperature: 0.9, n: 2, seed: 5, logit_bias: { "100": -100 },
  frequency_penalty: 0.5, presence_penalty: 0.5,
});
check(JSON.stringify(again.choices.map((c) => c.text)) === JSON.stringify(multi.choices.map((c) => c.text)),
  "the same seed gives the same choices");
out.n_texts = multi.choices.map((c) => c.text);
const echo = await client.completions.create({ model, prompt: "The", max_tokens: 48, temperature: 0, echo: true });
check(echo.choices[0].text === "The" + out.completion, "echo puts the prompt first");
const nstream = await client.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0, n: 2, stream: true });
const per = ["", ""];
for await (const chunk of nstream) for (const c of chunk.choices) per[c.index] += c.delta.content || "";
check(per[0] === per[1] && per[0].length > 0, "streamed n=2: both indexes get the (greedy) text");
try {
  await client.chat.completions.create({ model, messages, n: 17 });
  check(false, "n=17 must throw");
} catch (e) {
  check(e.status === 400 && e.param === "n", "400 with param n");
}

// structured outputs: the client's own parse helper reads the constrained JSON back
const schema = {
  type: "object", additionalProperties: false, required: ["name", "count", "ok"],
  properties: { name: { type: "string", maxLength: 8 }, count: { type: "integer" }, ok: { type: "boolean" } },
};
const parsed = await client.beta.chat.completions.parse({
  model, messages, max_tokens: 200, temperature: 0,
  response_format: { type: "json_schema", json_schema: { name: "thing", strict: true, schema } },
});
const thing = parsed.choices[0].message.parsed;
out.structured = parsed.choices[0].message.content;
check(thing && typeof thing.name === "string" && thing.name.length <= 8 && Number.isInteger(thing.count) &&
      typeof thing.ok === "boolean", "response_format json_schema parses into the schema's shape");
const jo = await client.chat.completions.create({
  model, messages, max_tokens: 200, temperature: 0, response_format: { type: "json_object" },
});
check(jo.choices[0].finish_reason === "length" || typeof JSON.parse(jo.choices[0].message.content) === "object",
      "response_format json_object");

// tool calling: tool_choice "required" forces a call the client reads back, parse() fills
// parsed_arguments of a strict function tool, and a streamed call's deltas join
const tools = [{ type: "function", function: {
  name: "add", description: "Adds", strict: true,
  parameters: { type: "object", additionalProperties: false, required: ["a", "b"],
                properties: { a: { type: "integer" }, b: { type: "integer" } } } } }];
const tc = await client.chat.completions.create({ model: toolModel, messages, max_tokens: 200, temperature: 0, tools,
                                                  tool_choice: "required" });
const call = tc.choices[0].message.tool_calls && tc.choices[0].message.tool_calls[0];
out.tool_call = call ? call.function : null;
check(tc.choices[0].finish_reason === "tool_calls" && call && call.type === "function" && call.function.name === "add" &&
      call.id.startsWith("call_") && Number.isInteger(JSON.parse(call.function.arguments).a), "required tool call");
const tp = await client.beta.chat.completions.parse({ model: toolModel, messages, max_tokens: 200, temperature: 0, tools,
                                                      tool_choice: { type: "function", function: { name: "add" } } });
const pa = tp.choices[0].message.tool_calls[0].function.parsed_arguments;
check(pa && Number.isInteger(pa.a) && Number.isInteger(pa.b), "parse() fills parsed_arguments");
const ts = await client.chat.completions.create({ model: toolModel, messages, max_tokens: 200, temperature: 0, tools,
                                                  tool_choice: "required", stream: true });
let sargs = "", sname = "", sfinish = null;
for await (const chunk of ts) {
  for (const c of chunk.choices) {
    for (const d of c.delta.tool_calls || []) {
      sname += (d.function && d.function.name) || "";
      sargs += (d.function && d.function.arguments) || "";
    }
    if (c.finish_reason) sfinish = c.finish_reason;
  }
}
check(sfinish === "tool_calls" && sname === "add" && call && sargs === call.function.arguments,
      "streamed tool call joins into the same call");
// the SDK's stream helper: argument deltas as they are generated (more than one), the
// assembled call in finalChatCompletion(), parsed_arguments of the strict tool at the end
const helper = client.beta.chat.completions.stream({ model: toolModel, messages, max_tokens: 200, temperature: 0, tools,
                                                      tool_choice: "required" });
let nDeltas = 0, doneArgs = null;
helper.on("tool_calls.function.arguments.delta", (e) => { if (e.arguments_delta) nDeltas++; });
helper.on("tool_calls.function.arguments.done", (e) => { doneArgs = e.parsed_arguments; });
const fin = await helper.finalChatCompletion();
const hcall = fin.choices[0].message.tool_calls && fin.choices[0].message.tool_calls[0];
out.tool_arg_deltas = nDeltas;
check(nDeltas > 1 && hcall && hcall.function.name === "add" && call && hcall.function.arguments === call.function.arguments &&
      fin.choices[0].finish_reason === "tool_calls" && doneArgs && Number.isInteger(doneArgs.a),
      "stream helper: argument deltas join into the call, parsed at the end");

report(out);
