/**
 * `verifyCredentials: true` in the program, under mocks, against a plain-HTTP stand-in that
 * answers /v2/ like a Basic-auth registry (the real registries are in test/cluster/).
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import type * as net from "node:net";
import { findEcho } from "./support/echo";
import { closedPort } from "./support/ports";
import { plainBasicRegistry } from "./support/plainBasicRegistry";
import { runProgram } from "./support/runProgram";

const USER = "puller";
const PASSWORD = "Right-Pa55:<&>";
const WRONG = "Wrong-Pa55:<&>";

describe("program with verifyCredentials (mocks, local stand-in registry)", function () {
    this.timeout(60000);
    let registry: Awaited<ReturnType<typeof plainBasicRegistry>>;

    before(async () => {
        registry = await plainBasicRegistry(USER, PASSWORD);
    });
    after(() => registry.close());

    const entry = (password: string) => ({ server: `http://${registry.host}`, username: USER, password });

    it("declares as usual when every credential is accepted", async () => {
        const r = await runProgram({ namespace: "ok", verifyCredentials: "true", registries: [entry(PASSWORD)] });
        assert.equal(r.error, undefined, r.error?.message);
        assert.equal(r.resources.filter((x) => x.type === "kubernetes:core/v1:Secret").length, 1);
        assert.ok(registry.requests >= 2, "the registry was not asked");
    });

    it("stops before declaring anything, listing each failing entry by key path, server and cause, never the password", async () => {
        // Not a registry: a web server answering 404 (a local one, so no resolver is involved;
        // names that do not resolve are covered in verifyCredentials.test.ts).
        const web = http.createServer((_, res) => res.writeHead(404).end());
        await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
        const notRegistry = `127.0.0.1:${(web.address() as net.AddressInfo).port}`;
        // Released after the web server has its port: the kernel may hand a released port to the
        // next listen(0), which made both entries the web server.
        const closed = `127.0.0.1:${await closedPort()}`;
        const r = await runProgram({
            sharedRegistries: [entry(WRONG)],
            tenants: [
                { namespace: "a", registries: [{ server: `http://${closed}`, username: USER, password: PASSWORD }] },
                { namespace: "b", registries: [{ server: `http://${notRegistry}`, username: USER, password: PASSWORD }] },
            ],
            verifyCredentials: "true",
        }).finally(() => {
            web.closeAllConnections();
            web.close();
        });
        assert.deepEqual(r.resources, []);
        assert.equal(r.error?.name, "RunError");
        const message = r.error?.message ?? "";
        assert.match(message, /^registry credentials failed verification, 3 problems:/);
        assert.match(message, new RegExp(`registry-access:sharedRegistries\\[0\\]: http://${registry.host}: credentials rejected \\(HTTP 401`));
        assert.match(message, new RegExp(`registry-access:tenants\\[0\\]\\.registries\\[0\\]: http://${closed}: unreachable`));
        assert.match(message, new RegExp(`registry-access:tenants\\[1\\]\\.registries\\[0\\]: http://${notRegistry}: unexpected response \\(HTTP 404 from /v2/\\)`));
        // The shared registry is probed once, not once per tenant.
        assert.equal(message.match(/^ {2}- registry-access:sharedRegistries\[0\]:/gm)?.length, 1);
        const echo = findEcho(`${message}\n${r.error?.stack}\n${r.log}`, [PASSWORD, WRONG]);
        assert.equal(echo, undefined, `password fragment ${JSON.stringify(echo)} in the output`);
    });

    it("makes no request when verifyCredentials is off", async () => {
        const before = registry.requests;
        const r = await runProgram({ namespace: "off", registries: [entry(WRONG)] });
        assert.equal(r.error, undefined);
        assert.equal(registry.requests, before);
    });
});
