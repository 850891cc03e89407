/**
 * The YAML language server (npm yaml-language-server), as an editor runs it: one process over
 * stdio, spoken to in LSP's JSON-RPC with Content-Length framing.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

export interface Diagnostic {
    range: { start: { line: number; character: number }; end: { line: number; character: number } };
    message: string;
    severity?: number;
    source?: string;
}

export interface CompletionItem {
    label: string;
    documentation?: unknown;
}

const SERVER = require.resolve("yaml-language-server/bin/yaml-language-server");

export class YamlLanguageServer {
    private readonly child: ChildProcessWithoutNullStreams;
    private buffer = Buffer.alloc(0);
    private nextId = 1;
    private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    /** The latest diagnostics published per document URI, and how many times each was published. */
    readonly diagnostics = new Map<string, Diagnostic[]>();
    private readonly published = new Map<string, number>();
    private stderr = "";
    /** The settings sections the server pulls with workspace/configuration. */
    private settings: Record<string, unknown> = {};

    constructor(root: string) {
        this.child = spawn(process.execPath, [SERVER, "--stdio"], { cwd: root, stdio: "pipe" });
        this.child.stdout.on("data", (chunk: Buffer) => this.receive(chunk));
        this.child.stderr.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
        this.child.on("exit", (code) => {
            for (const { reject } of this.pending.values()) {
                reject(new Error(`yaml-language-server exited (${code}): ${this.stderr}`));
            }
        });
    }

    static uri(file: string): string {
        return pathToFileURL(path.resolve(file)).href;
    }

    /** initialize, then settings: `schemas` maps a schema file to globs; no schema store (no network). */
    async start(root: string, schemas: Record<string, string[]>): Promise<void> {
        await this.request("initialize", {
            processId: process.pid,
            rootUri: YamlLanguageServer.uri(root),
            capabilities: { workspace: { configuration: true }, textDocument: { publishDiagnostics: {}, completion: { completionItem: { documentationFormat: ["plaintext"] } }, hover: {} } },
            workspaceFolders: null,
        });
        this.notify("initialized", {});
        this.settings = {
            yaml: {
                validate: true,
                completion: true,
                hover: true,
                schemaStore: { enable: false },
                kubernetesCRDStore: { enable: false },
                schemas: Object.fromEntries(Object.entries(schemas).map(([schema, globs]) => [YamlLanguageServer.uri(schema), globs])),
            },
        };
        // The server then pulls the settings (workspace/configuration).
        this.notify("workspace/didChangeConfiguration", { settings: null });
    }

    open(uri: string, text: string): void {
        this.notify("textDocument/didOpen", { textDocument: { uri, languageId: "yaml", version: 1, text } });
    }

    /** Resolves once every URI has diagnostics and none has been republished for `quietMs`. */
    async settled(uris: string[], quietMs: number, timeoutMs: number): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        let last = "";
        let since = Date.now();
        while (Date.now() < deadline) {
            const now = uris.map((u) => this.published.get(u) ?? 0).join(",");
            if (now !== last) {
                last = now;
                since = Date.now();
            } else if (uris.every((u) => this.published.has(u)) && Date.now() - since >= quietMs) {
                return;
            }
            await new Promise((r) => setTimeout(r, 50));
        }
        const missing = uris.filter((u) => !this.published.has(u));
        throw new Error(`no settled diagnostics within ${timeoutMs} ms; none yet for ${missing.join(", ") || "(all had some)"}`);
    }

    async completion(uri: string, line: number, character: number): Promise<CompletionItem[]> {
        const result = (await this.request("textDocument/completion", { textDocument: { uri }, position: { line, character } })) as
            | { items: CompletionItem[] }
            | CompletionItem[]
            | null;
        return Array.isArray(result) ? result : (result?.items ?? []);
    }

    async hover(uri: string, line: number, character: number): Promise<string> {
        const result = (await this.request("textDocument/hover", { textDocument: { uri }, position: { line, character } })) as { contents?: unknown } | null;
        return JSON.stringify(result?.contents ?? "");
    }

    async stop(): Promise<void> {
        if (this.child.exitCode === null) {
            await Promise.race([this.request("shutdown", null).catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
            this.notify("exit", null);
            this.child.kill();
        }
    }

    private request(method: string, params: unknown): Promise<unknown> {
        const id = this.nextId++;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            this.send({ jsonrpc: "2.0", id, method, params });
        });
    }

    private notify(method: string, params: unknown): void {
        this.send({ jsonrpc: "2.0", method, params });
    }

    private send(message: unknown): void {
        const body = Buffer.from(JSON.stringify(message), "utf8");
        this.child.stdin.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, "ascii"), body]));
    }

    private receive(chunk: Buffer): void {
        this.buffer = Buffer.concat([this.buffer, chunk]);
        for (;;) {
            const end = this.buffer.indexOf("\r\n\r\n");
            if (end < 0) {
                return;
            }
            const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, end).toString("ascii"))?.[1]);
            if (this.buffer.length < end + 4 + length) {
                return;
            }
            const message = JSON.parse(this.buffer.subarray(end + 4, end + 4 + length).toString("utf8")) as Parameters<YamlLanguageServer["handle"]>[0];
            this.buffer = this.buffer.subarray(end + 4 + length);
            this.handle(message);
        }
    }

    private handle(message: { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message: string } }): void {
        if (message.method === "textDocument/publishDiagnostics") {
            const { uri, diagnostics } = message.params as { uri: string; diagnostics: Diagnostic[] };
            this.diagnostics.set(uri, diagnostics);
            this.published.set(uri, (this.published.get(uri) ?? 0) + 1);
        } else if (message.method !== undefined && message.id !== undefined) {
            // A request from the server (workspace/configuration, client/registerCapability, ...).
            const items = (message.params as { items?: { section?: string }[] } | undefined)?.items ?? [];
            const result = message.method === "workspace/configuration" ? items.map((i) => this.settings[i.section ?? ""] ?? null) : null;
            this.send({ jsonrpc: "2.0", id: message.id, result });
        } else if (message.id !== undefined && this.pending.has(message.id)) {
            const { resolve, reject } = this.pending.get(message.id)!;
            this.pending.delete(message.id);
            if (message.error) {
                reject(new Error(message.error.message));
            } else {
                resolve(message.result);
            }
        }
    }
}
