/**
 * How the image-isolation probe hands kubectl a kubeconfig given as content (components/cluster.ts,
 * clusterKubectl): the real kubectl reads it for each kind of call the probe makes, and a killed
 * program leaves no copy of it on disk.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { clusterKubectl } from "../components/cluster";
import { imageIsolation } from "../components/imageIsolation";

const TOKEN = "eyJhbGciOiJSUzI1NiJ9.kubeconfig-token-77c1";

const kubeconfigFor = (server: string) =>
    JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server } }],
        users: [{ name: "u", user: { token: TOKEN } }],
        contexts: [{ name: "c", context: { cluster: "c", user: "u", namespace: "team-a" } }],
        "current-context": "c",
    });

/** Every file under DIR, with its text. */
function filesUnder(dir: string): { file: string; text: string }[] {
    return readdirSync(dir, { recursive: true, encoding: "utf8" })
        .map((name) => path.join(dir, name))
        .filter((file) => statSync(file).isFile())
        .map((file) => ({ file, text: readFileSync(file, "utf8") }));
}

/**
 * Just enough of an API server for kubectl's discovery, `get namespaces` and a server-side dry run
 * of one pod (which comes back with imagePullPolicy Always, as under AlwaysPullImages). Its /version
 * makes gcloud's kubectl dispatcher run a second kubectl, which reads the kubeconfig again.
 */
function fakeApiServer(): Promise<{ url: string; requests: string[]; close: () => void }> {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk: Buffer) => (body += chunk.toString()));
        req.on("end", () => {
            requests.push(`${req.method} ${req.url}`);
            const url = (req.url ?? "").split("?")[0];
            const json = (o: unknown, code = 200) => {
                res.writeHead(code, { "content-type": "application/json" });
                res.end(JSON.stringify(o));
            };
            const podPatch = { "x-kubernetes-group-version-kind": { group: "", version: "v1", kind: "Pod" }, parameters: [{ name: "fieldValidation", in: "query", schema: { type: "string" } }], responses: {} };
            const routes: Record<string, unknown> = {
                "/version": { major: "1", minor: "32", gitVersion: "v1.32.0" },
                "/api": { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }] },
                "/apis": { kind: "APIGroupList", apiVersion: "v1", groups: [] },
                "/api/v1": {
                    kind: "APIResourceList",
                    groupVersion: "v1",
                    resources: [
                        { name: "namespaces", singularName: "namespace", namespaced: false, kind: "Namespace", verbs: ["get", "list"] },
                        { name: "pods", singularName: "pod", namespaced: true, kind: "Pod", verbs: ["get", "list", "create", "patch"] },
                    ],
                },
                "/api/v1/namespaces": { kind: "NamespaceList", apiVersion: "v1", metadata: {}, items: [{ metadata: { name: "team-a" } }] },
                // Server-side field validation, which kubectl looks for on a PATCH of the kind.
                "/openapi/v3": { paths: { "api/v1": { serverRelativeURL: "/openapi/v3/api/v1?hash=1" } } },
                "/openapi/v3/api/v1": { openapi: "3.0.0", info: { title: "fake", version: "v1" }, paths: { "/api/v1/namespaces/{namespace}/pods/{name}": { patch: podPatch } }, components: { schemas: {} } },
            };
            if (req.method === "GET" && url in routes) {
                return json(routes[url]);
            }
            if (req.method === "POST" && url === "/api/v1/namespaces/team-a/pods" && /dryRun=All/.test(req.url ?? "")) {
                const pod = JSON.parse(body) as { metadata: { name?: string }; spec: { containers: { imagePullPolicy?: string }[] } };
                pod.metadata.name ??= "probe-1";
                pod.spec.containers[0].imagePullPolicy = "Always";
                return json(pod, 201);
            }
            json({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 }, 404);
        });
    });
    return new Promise((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests, close: () => server.close() })),
    );
}

describe("image isolation: a kubeconfig given as content, with the real kubectl", function () {
    this.timeout(60000);

    it("kubectl reads it from /dev/fd/3 for a get and for a dry run fed on stdin, and the probe gets its answer", async () => {
        const api = await fakeApiServer();
        try {
            const kubectl = clusterKubectl({ kubeconfig: kubeconfigFor(api.url) });
            const namespaces = await kubectl(["get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}"]);
            assert.deepEqual([namespaces.code, namespaces.stdout], [0, "team-a"], namespaces.stderr);
            const pod = { apiVersion: "v1", kind: "Pod", metadata: { generateName: "p-", namespace: "team-a" }, spec: { containers: [{ name: "c", image: "registry.example.org/x:1" }] } };
            const created = await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], JSON.stringify(pod));
            assert.equal(created.code, 0, created.stderr);
            assert.equal((JSON.parse(created.stdout) as typeof pod & { spec: { containers: { imagePullPolicy: string }[] } }).spec.containers[0].imagePullPolicy, "Always");
            assert.ok(api.requests.some((r) => r.startsWith("POST /api/v1/namespaces/team-a/pods?dryRun=All")), api.requests.join("\n"));

            const answers = await imageIsolation([{ namespace: "team-a", server: "registry.example.org" }], kubectl);
            assert.deepEqual(answers, [{ namespace: "team-a", isolated: true, by: "admission sets imagePullPolicy: Always (AlwaysPullImages)" }]);
        } finally {
            api.close();
        }
    });
});

describe("image isolation: a killed program leaves no kubeconfig on disk", function () {
    this.timeout(30000);

    it("after SIGTERM of a program asking kubectl with the kubeconfig's content, no file in its temp dir holds the token", async () => {
        const scratch = mkdtempSync(path.join(tmpdir(), "registry-access-sigterm-"));
        const temp = path.join(scratch, "tmp");
        const bin = path.join(scratch, "bin");
        mkdirSync(temp);
        mkdirSync(bin);
        const ready = path.join(bin, "ready");
        // A kubectl that tells whether it could read the token, then hangs, as on a slow cluster.
        writeFileSync(
            path.join(bin, "kubectl"),
            `#!/bin/sh
for a; do case "$a" in --kubeconfig=*) f="\${a#--kubeconfig=}";; esac; done
if grep -q '${TOKEN}' "$f"; then echo "$$ read" > "${ready}.tmp"; else echo "$$ unread" > "${ready}.tmp"; fi
mv "${ready}.tmp" "${ready}"
exec sleep 30
`,
            { mode: 0o755 },
        );
        const program = `require(${JSON.stringify(path.join(__dirname, "../components/cluster.js"))}).clusterKubectl({ kubeconfig: process.env.CONTENT })(["get", "namespaces"]);`;
        const yaml = `apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: ${TOKEN}}}]\n`;
        const child = spawn(process.execPath, ["-e", program], { env: { ...process.env, TMPDIR: temp, PATH: `${bin}:${process.env.PATH}`, CONTENT: yaml }, stdio: "ignore" });
        const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
        let kubectlPid: number | undefined;
        try {
            for (let i = 0; i < 200 && !existsSync(ready); i++) {
                await new Promise((r) => setTimeout(r, 50));
            }
            const [pid, seen] = readFileSync(ready, "utf8").trim().split(" ");
            kubectlPid = Number(pid);
            assert.equal(seen, "read", "kubectl could read the kubeconfig while the program ran");
            child.kill("SIGTERM");
            assert.equal(await exited, "SIGTERM");
            const left = filesUnder(temp).filter((f) => f.text.includes(TOKEN));
            assert.deepEqual(left.map((f) => f.file), []);
            assert.deepEqual(readdirSync(temp), [], "nothing left in the program's temp dir");
        } finally {
            child.kill("SIGKILL");
            if (kubectlPid) {
                try {
                    process.kill(kubectlPid, "SIGKILL");
                } catch {
                    // already gone
                }
            }
            rmSync(scratch, { recursive: true, force: true });
        }
    });
});
