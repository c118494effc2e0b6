// openai_chat.mjs — the official `openai` npm client against inferd's OpenAI-compatible API:
// one streamed chat answer, printed as it arrives.
// Usage (from the repository root): node examples/openai_chat.mjs [http://127.0.0.1:8080] [model]
import OpenAI from "openai";

const base = (process.argv[2] ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const model = process.argv[3] ?? "tiny";
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: process.env.INFERD_API_KEY ?? "none" });

const stream = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: "Once upon a time" }],
  max_tokens: 32,
  temperature: 0,
  stream: true,
});
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
process.stdout.write("\n");
