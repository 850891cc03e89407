/**
 * A team's shared state, through the CLI on a real S3 server and on PostgreSQL
 * (scripts/local-backends.sh): the whole life of a stack with no plaintext password in the
 * backend, two `up` of one stack racing for its lock (many rounds, each reported), two stacks at
 * once, a deploy killed mid-`up` and the backend server stopped mid-`up`, each recovered the way
 * README and docs/deploy.md say.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { leakForms } from "../support/secrets";
import { kubectl, pullSecretNames, secretBytes, serviceAccount } from "./support/cluster";
import { loadBackends, lockKeys } from "./support/backends";
import { TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";

/** Rounds of the lock race per backend (TEAMS_RACE_ROUNDS overrides). */
const RACE_ROUNDS = Number(process.env.TEAMS_RACE_ROUNDS ?? 20);
const LOCKED = /the stack is currently locked by \d+ lock\(s\)/;
/**
 * The lock check lists the lock files, then reads each: when the other run deletes its lock in
 * between (it lost too, or finished), the read fails with the backend's not-found error instead.
 */
const LOCK_VANISHED = /NoSuchKey|\(code=NotFound\)/;

const registry = (server: string, password: string) => ({ server, username: "puller", password });
const secretName = (server: string) => `regcred-${server.replaceAll(".", "-")}`;

interface State {
    deployment: { resources: { type: string; urn: string }[]; pending_operations?: unknown[] };
}

async function history(stack: TestStack): Promise<{ result: string; kind: string }[]> {
    const r = await stack.cli(["stack", "history", "--json", "--page-size", "100000"], { record: false });
    assert.equal(r.code, 0, r.output);
    return JSON.parse(r.output) as { result: string; kind: string }[];
}

/** The password the cluster's Secret for SERVER holds. */
async function clusterPassword(namespace: string, server: string): Promise<string> {
    const config = JSON.parse((await secretBytes(namespace, secretName(server))).toString()) as { auths: Record<string, { password: string }> };
    return config.auths[server].password;
}

/** Asserts the stack converged on REGISTRIES: Secrets in the cluster and the state, once each. */
async function assertConverged(stack: TestStack, namespace: string, servers: string[]): Promise<void> {
    await stack.preview({ expectNoChanges: true });
    const secrets = JSON.parse(await kubectl(["get", "secrets", "-n", namespace, "-o", "json"])) as { items: { metadata: { name: string } }[] };
    const names = servers.map(secretName);
    assert.deepEqual(secrets.items.map((x) => x.metadata.name).filter((n) => n.startsWith("regcred-")).sort(), [...names].sort());
    assert.deepEqual(pullSecretNames(await serviceAccount(namespace)), names);
    const state = JSON.parse(await stack.exportText()) as State;
    assert.equal(state.deployment.resources.filter((r) => r.type === "kubernetes:core/v1:Secret").length, servers.length, "Secrets lost or duplicated in the state");
    assert.equal(new Set(state.deployment.resources.map((r) => r.urn)).size, state.deployment.resources.length, "a URN twice in the state");
    assert.deepEqual(state.deployment.pending_operations ?? [], []);
}

/**
 * Runs `pulumi up` for STACK; each of WHEN's actions runs once, in order, the first time the
 * CLI's output matches its pattern (after the previous action).
 */
async function upWatching(stack: TestStack, when: [RegExp, () => Promise<void> | void][]): Promise<{ code: number; output: string; fired: number }> {
    let fired = 0;
    let output = "";
    let pending: Promise<void> = Promise.resolve();
    const child = stack.stack.up({
        color: "never",
        onOutput: (out) => {
            output += out;
            if (fired < when.length && when[fired][0].test(out)) {
                const action = when[fired++][1];
                pending = pending.then(action);
            }
        },
    });
    let code = 0;
    try {
        await child;
    } catch (e) {
        code = 1;
        output += `\n${String(e)}`;
    }
    await pending;
    return { code, output, fired };
}

const SECRET_CREATED = /Secret \S+ created/;

for (const backend of loadBackends()) {
    describe(`a team's shared state on ${backend.name === "s3" ? "S3 (versitygw)" : "PostgreSQL 15"}`, function () {
        this.timeout(1200000);
        const namespace = suiteNamespaces();
        const create = (ns: string, config: Record<string, unknown>) => TestStack.create(ns, config, { backend: backend.env });

        it("1. create, up, refresh, destroy: stack export and every object or row of the backend hold no password in any form", async () => {
            const ns = namespace(`${backend.name}-life`);
            const cred = { server: "registry.example.org", username: "puller", password: `Team-s3cret-${backend.name}-Vq7` };
            const stack = await create(ns, { namespace: ns, registries: [cred] });
            await stack.up();
            assert.equal(await clusterPassword(ns, cred.server), cred.password);
            await stack.refresh({ expectNoChanges: true });
            const check = async (when: string) => {
                const contents = await backend.contents();
                assert.ok(contents.some((c) => c.key.endsWith(`/${ns}.json`)), `${when}: the backend holds no checkpoint of ${ns}: ${contents.map((c) => c.key).join(", ")}`);
                const places: [string, string][] = [["stack export", await stack.exportText()], ...contents.map((c): [string, string] => [c.key, c.text])];
                for (const [where, text] of places) {
                    for (const form of leakForms(cred)) {
                        assert.ok(!text.includes(form), `${when}: ${where} holds a plaintext form of the password`);
                    }
                }
                for (const line of stack.log) {
                    for (const form of leakForms(cred)) {
                        assert.ok(!line.includes(form), `${when}: the CLI printed a plaintext form of the password`);
                    }
                }
            };
            await check("after up and refresh");
            await stack.destroy();
            assert.equal(await kubectl(["get", "secrets", "-n", ns, "-o", "name", "--ignore-not-found"]).catch(() => ""), "");
            await check("after destroy");
            assert.deepEqual(await lockKeys(backend, ns), [], "a lock file outlived the runs");
        });

        it(`2. two up of one stack at once, ${RACE_ROUNDS} rounds: never both at once; the loser stops at the lock and changes nothing; the state is the winner's`, async () => {
            const ns = namespace(`${backend.name}-race`);
            const server = "race.example.org";
            const stack = await create(ns, { namespace: ns, registries: [registry(server, "round-0")] });
            await stack.up();
            const rounds: string[] = [];
            let applied = "round-0";
            for (let round = 1; round <= RACE_ROUNDS; round++) {
                const password = `round-${round}`;
                await stack.setConfig({ namespace: ns, registries: [registry(server, password)] });
                const before = (await history(stack)).length;
                const t0 = Date.now();
                const runs = await Promise.all([0, 1].map(() => stack.cli(["up", "--yes", "--skip-preview"])));
                const ms = Date.now() - t0;
                const after = await history(stack);
                const outcomes = runs.map((r) => (r.code === 0 ? "ran" : LOCKED.test(r.output) ? "locked" : LOCK_VANISHED.test(r.output) ? "vanished" : "other"));
                const count = (o: string) => outcomes.filter((x) => x === o).length;
                const [won, locked, vanished] = [count("ran"), count("locked"), count("vanished")];
                rounds.push(`round ${round}: ${won} ran, ${locked} stopped at the lock${vanished ? `, ${vanished} stopped reading a lock file deleted meanwhile` : ""} (${ms} ms)`);
                // Every run either completed or stopped in the lock check: nothing else went wrong.
                assert.equal(won + locked + vanished, 2, `round ${round}: ${runs.map((r) => r.output).join("\n---\n")}`);
                // Each update that ran is one history entry, succeeded; a stopped run left none.
                assert.equal(after.length - before, won, `round ${round}: history grew by ${after.length - before} for ${won} runs`);
                assert.ok(after.slice(0, won).every((h) => h.result === "succeeded"), `round ${round}: ${JSON.stringify(after.slice(0, won))}`);
                assert.deepEqual(await lockKeys(backend, ns), [], `round ${round}: a lock file outlived the runs`);
                // The cluster holds the last password an update applied: a stopped run wrote nothing.
                applied = won > 0 ? password : applied;
                assert.equal(await clusterPassword(ns, server), applied, `round ${round}: the cluster does not hold the last applied Secret`);
            }
            console.log(`      lock race on ${backend.name}:\n${rounds.map((r) => `        ${r}`).join("\n")}`);
            // Every round's config is applied by the end, even after a round both runs lost.
            await stack.cli(["up", "--yes", "--skip-preview"]);
            assert.equal(await clusterPassword(ns, server), `round-${RACE_ROUNDS}`);
            await assertConverged(stack, ns, [server]);
            assert.ok(rounds.some((r) => r.includes(": 1 ran, 1 stopped")), "no round had one run stop at the lock: the two runs never overlapped");
        });

        it("3. two different stacks at once both succeed", async () => {
            const [a, b] = [namespace(`${backend.name}-pair-a`), namespace(`${backend.name}-pair-b`)];
            const stacks = await Promise.all([a, b].map((ns) => create(ns, { namespace: ns, registries: [registry("pair.example.org", `pw-${ns}`)] })));
            const runs = await Promise.all(stacks.map((s) => s.cli(["up", "--yes", "--skip-preview"])));
            for (const [i, r] of runs.entries()) {
                assert.equal(r.code, 0, r.output);
                await assertConverged(stacks[i], [a, b][i], ["pair.example.org"]);
            }
        });

        it("4. a deploy killed mid-up (SIGKILL): pulumi cancel, refresh and up converge on the shared backend", async () => {
            const ns = namespace(`${backend.name}-killed`);
            const servers = [1, 2, 3, 4, 5, 6].map((i) => `k${i}.example.org`);
            const stack = await create(ns, { namespace: ns, registries: servers.map((s) => registry(s, `pw-${s}`)) });
            const run = await upWatching(stack, [[SECRET_CREATED, () => {
                for (const pid of spawnSync("pgrep", ["-f", `pulumi up .*--stack ${ns} `], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number)) {
                    spawnSync("pkill", ["-KILL", "-P", String(pid)]);
                    process.kill(pid, "SIGKILL");
                }
            }]]);
            assert.ok(run.fired === 1 && run.code !== 0, `the up was not killed: ${run.output}`);
            assert.notDeepEqual(await lockKeys(backend, ns), [], "the killed run left no lock on the backend");
            await assert.rejects(stack.up(), /the stack is currently locked[\s\S]*pulumi cancel/);
            for (const args of [["cancel", "--yes"], ["refresh", "--yes", "--clear-pending-creates"]]) {
                const r = await stack.cli(args);
                assert.equal(r.code, 0, r.output);
            }
            assert.deepEqual(await lockKeys(backend, ns), []);
            await stack.up();
            await assertConverged(stack, ns, servers);
        });

        it(`5. the ${backend.name} server stopped mid-up: the CLI fails naming the backend; once it is back, cancel, refresh and up converge`, async () => {
            const ns = namespace(`${backend.name}-gone`);
            const servers = [1, 2, 3, 4, 5, 6].map((i) => `g${i}.example.org`);
            // One S3 request per save (the SDK's own 3 attempts with backoff would add about 40 s):
            // the CLI's retries of each save, which the test is about, are the same.
            const stack = await TestStack.create(ns, { namespace: ns, registries: servers.map((s) => registry(s, `pw-${s}`)) }, { backend: backend.env, env: { AWS_MAX_ATTEMPTS: "1" } });
            // The server goes away after the first Secret and is back once the CLI has failed to
            // save a checkpoint (a restart of its host): the CLI retries each save for about a
            // minute, so an outage left running would fail every remaining step, one by one.
            let run: Awaited<ReturnType<typeof upWatching>>;
            try {
                run = await upWatching(stack, [
                    [SECRET_CREATED, () => backend.stop()],
                    [/failed to save snapshot/, () => backend.start()],
                ]);
            } finally {
                await backend.start();
            }
            assert.equal(run.fired, 2, `the CLI never failed to save a checkpoint: ${run.output}`);
            const said = run.output.split("\n").filter((l) => /error|failed|refused|EOF/i.test(l));
            console.log(`      the CLI, ${backend.name} stopped mid-up (exit ${run.code}):\n${said.slice(0, 8).map((l) => `        ${l.trim().slice(0, 300)}`).join("\n")}`);
            assert.notEqual(run.code, 0, "the up succeeded with its backend stopped");
            for (const args of [["cancel", "--yes"], ["refresh", "--yes", "--clear-pending-creates"]]) {
                const r = await stack.cli(args);
                assert.equal(r.code, 0, r.output);
            }
            await stack.up();
            await assertConverged(stack, ns, servers);
        });
    });
}
