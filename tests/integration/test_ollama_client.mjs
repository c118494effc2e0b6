// test_ollama_client.mjs — the official `ollama` npm client, unchanged, against inferd: chat
// (plain and streamed), generate (plain and streamed), embed, list, show, ps, version, and an
// unknown model's error, and tool calling (a forced call read back with object arguments,
// streamed and not, then the tool's result sent back). Usage: node test_ollama_client.mjs
// http://127.0.0.1:PORT MODEL TOOL_MODEL
// Prints one JSON object with what it saw; exits non-zero on any failure.
import { check, messages, report, require, root } from "./client_check.mjs";

const { Ollama } = require(root + "/node_modules/ollama");

const [host, model, toolModel] = process.argv.slice(2);
const ollama = new Ollama({ host });
const out = {};
const options = { temperature: 0, num_predict: 24 };

const chat = await ollama.chat({ model, messages, options });
out.chat = chat.message.content;
check(chat.message.role === "assistant" && chat.done === true, "chat: an assistant message, done");
check(chat.eval_count > 0 && chat.prompt_eval_count > 0, "chat counters");

let text = "", parts = 0, last = null;
for await (const part of await ollama.chat({ model, messages, options, stream: true })) {
  parts++;
  text += part.message.content;
  last = part;
}
check(parts >= 2 && text === out.chat, "streamed chat == plain chat");
check(last && last.done === true && ["stop", "length"].includes(last.done_reason), "stream ends with done");

const gen = await ollama.generate({ model, prompt: "The", raw: true, options: { temperature: 0, num_predict: 48 } });
out.generate = gen.response;
check(gen.done === true && gen.eval_count === 48, "generate: 48 tokens");
let gtext = "";
for await (const part of await ollama.generate({ model, prompt: "The", raw: true, stream: true,
                                                  options: { temperature: 0, num_predict: 48 } }))
  gtext += part.response;
check(gtext === out.generate, "streamed generate == plain generate");

const emb = await ollama.embed({ model, input: ["hello world", "The"] });
out.embed_dims = emb.embeddings[0].length;
check(emb.embeddings.length === 2, "two embeddings");

const list = await ollama.list();
out.list = list.models.map((m) => m.name);
check(list.models.some((m) => m.name === model + ":latest" && m.details.format === "gguf"), "list has the model");
const show = await ollama.show({ model });
check(show.details.family === "llama" && typeof show.template === "string" && show.model_info, "show");
const ps = await ollama.ps();
check(ps.models.length >= 1, "ps");
const ver = await ollama.version();
out.version = ver.version;
check(/^\d+\.\d+\.\d+/.test(ver.version), "version");

try {
  await ollama.chat({ model: "nope", messages });
  check(false, "unknown model must throw");
} catch (e) {
  out.error = e.message;
  check(e.status_code === 404 && /not found/.test(e.message), "unknown model: 404 " + e.message);
}

// tools: tool_choice is inferd's extension (a random-weight model calls nothing by itself);
// the client sends the request object as it is
const tools = [{ type: "function", function: { name: "add", description: "Adds two integers",
  parameters: { type: "object", required: ["a", "b"], properties: { a: { type: "integer" }, b: { type: "integer" } } } } }];
const tmsgs = [{ role: "user", content: "What is 2 + 3?" }];
const topts = { temperature: 0, num_predict: 200 };
const tr = await ollama.chat({ model: toolModel, messages: tmsgs, tools, tool_choice: "required", options: topts });
const tcall = tr.message.tool_calls && tr.message.tool_calls[0];
out.tool_call = tcall ? tcall.function : null;
check(tcall && tcall.function.name === "add" && typeof tcall.function.arguments === "object" &&
      Number.isInteger(tcall.function.arguments.a) && Number.isInteger(tcall.function.arguments.b), "tool call");
let scall = null, sparts = 0;
for await (const part of await ollama.chat({ model: toolModel, messages: tmsgs, tools, tool_choice: "required",
                                             options: topts, stream: true })) {
  sparts++;
  if (part.message.tool_calls) scall = part.message.tool_calls[0];
}
check(scall && tcall && JSON.stringify(scall.function) === JSON.stringify(tcall.function), "streamed tool call");
const back = await ollama.chat({ model: toolModel, tools, options: { temperature: 0, num_predict: 8 }, messages: [
  ...tmsgs, { role: "assistant", content: "", tool_calls: [tcall] }, { role: "tool", content: "5", tool_name: "add" }] });
check(back.done === true && typeof back.message.content === "string" && back.prompt_eval_count > 0,
      "the tool's result sent back");

report(out);
