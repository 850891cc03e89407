/**
 * Tenants on one node: once a tenant's pod has pulled a private image, the image is on the node,
 * and with Kubernetes' defaults a pod of any other namespace runs it without credentials (the
 * images guide: "all Pods of all tenants potentially have access to all images"). Shown on the
 * local cluster's node as it ships, then closed by each protection the cluster can turn on, with
 * what each costs a pod start (time, requests to the registry). The Jobs set no pull policy, as
 * XNAT's Container Service's do; the image is tagged, so the default is IfNotPresent.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT } from "../../deploy/engine";
import { LOCAL_CLUSTER_DIR } from "./support/cluster";
import { TestStack } from "./support/engine";
import { assertPulled, assertRefused, type JobRun, runImageJob } from "./support/jobs";
import { suiteNamespaces } from "./support/names";
import { loadRegistryEnv, type RegistryEnv } from "./support/registryEnv";

type Isolation = "kubelet" | "always-pull" | "none";

/** The running local cluster's isolation mode, from its ports file. */
function currentIsolation(): Isolation {
    const ports = readFileSync(path.join(LOCAL_CLUSTER_DIR, "ports"), "utf8");
    return (/^ISOLATION=(.+)$/m.exec(ports)?.[1] ?? "none") as Isolation;
}

function setIsolation(mode: Isolation): void {
    const r = spawnSync("bash", [path.join(ROOT, "scripts", "local-cluster.sh"), "isolation", mode], { encoding: "utf8" });
    assert.equal(r.status, 0, `local-cluster.sh isolation ${mode}: ${r.stderr}`);
}

/** containerd's client on the local node, in the kubelet's namespace. */
function ctr(args: string[]): string {
    const r = spawnSync("ctr", ["--address", path.join(LOCAL_CLUSTER_DIR, "containerd", "containerd.sock"), "--namespace", "k8s.io", ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
}

/** Removes IMAGE from the node (its tag, digest and id references), as on a node that never pulled it. */
function forgetImage(image: string): void {
    const rows = ctr(["images", "ls"])
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s+/))
        .filter((c) => c.length > 2);
    const digest = rows.find((c) => c[0] === image)?.[2];
    const refs = digest ? rows.filter((c) => c[2] === digest || c[0] === digest).map((c) => c[0]) : [];
    if (refs.length > 0) {
        ctr(["images", "rm", ...refs]);
    }
}

describe("tenants on a shared node: one tenant's pulled private image and the other tenant", function () {
    this.timeout(900000);
    const namespace = suiteNamespaces();
    let env: RegistryEnv;
    let initial: Isolation;
    const [a, b] = [namespace("iso-a"), namespace("iso-b")];
    const costs: string[] = [];

    const image = () => `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`;
    /** Manifest requests the registry has answered for the image, whoever asked (with or without credentials). */
    const manifestRequests = () =>
        readFileSync(env.REGISTRY_BASIC_LOG, "utf8")
            .split("\n")
            .filter((l) => l.includes("response completed") && l.includes(`/v2/${env.REGISTRY_IMAGE.split(":")[0]}/manifests/`)).length;

    /** Tenant a's Job with the image already on the node: its time and the registry requests it made. */
    async function cachedStart(mode: Isolation): Promise<JobRun> {
        const requests = manifestRequests();
        const run = await runImageJob(a, image());
        assertPulled(run, `tenant a, image cached, ${mode}`);
        costs.push(`${mode}: ${run.seconds.toFixed(1)} s, ${manifestRequests() - requests} manifest requests to the registry`);
        return run;
    }

    before(async () => {
        assert.equal(process.env.KUBECONFIG, path.join(LOCAL_CLUSTER_DIR, "kubeconfig"), "these tests switch the local cluster's flags: run them on scripts/local-cluster.sh's cluster (unset KUBECONFIG)");
        env = await loadRegistryEnv();
        initial = currentIsolation();
        // Two tenants of one stack: a can pull from the local registry, b has credentials for another registry only.
        const stack = await TestStack.create(a, {
            tenants: [
                { namespace: a, registries: [{ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password: env.REGISTRY_PASSWORD }] },
                { namespace: b, registries: [{ server: "registry.example.org", username: "b-bot", password: "elsewhere-pw" }] },
            ],
        });
        await stack.up();
    });

    after(() => {
        setIsolation(initial);
        process.stdout.write(`      (a pod start with the image cached: ${costs.join("; ")})\n`);
    });

    it("1. as Kubernetes ships (no protection): tenant b runs the image tenant a pulled, without any credential", async () => {
        setIsolation("none");
        forgetImage(image());
        assertPulled(await runImageJob(a, image()), "tenant a");
        const leaked = await runImageJob(b, image());
        assertPulled(leaked, "tenant b (the leak)");
        assert.ok(
            leaked.events.some((e) => e.reason === "Pulled" && /already present on machine/.test(e.message)),
            JSON.stringify(leaked.events),
        );
        await cachedStart("none");
    });

    it("2. the AlwaysPullImages admission plugin: tenant b gets the registry's 401, tenant a still runs", async () => {
        setIsolation("always-pull");
        assertRefused(await runImageJob(b, image()), "tenant b");
        await cachedStart("always-pull");
    });

    it("3. the kubelet's KubeletEnsureSecretPulledImages gate: tenant b gets the 401, tenant a runs from the cache", async () => {
        setIsolation("kubelet");
        // Pulled again under the gate, so that the kubelet records which Secret pulled it.
        forgetImage(image());
        assertPulled(await runImageJob(a, image()), "tenant a, first pull");
        assertRefused(await runImageJob(b, image()), "tenant b");
        const run = await cachedStart("kubelet");
        assert.ok(
            run.events.some((e) => e.reason === "Pulled" && /already present on machine/.test(e.message)),
            `tenant a pulled again: ${JSON.stringify(run.events)}`,
        );
    });

    it("4. the program tells at preview (imageIsolation): require stops the unprotected cluster's preview naming the namespaces, passes either protection; warn warns", async () => {
        const [c, d] = [namespace("detect-c"), namespace("detect-d")];
        const config = (imageIsolation: string) => ({
            imageIsolation,
            tenants: [c, d].map((ns) => ({ namespace: ns, registries: [{ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password: env.REGISTRY_PASSWORD }] })),
        });
        const stack = await TestStack.create(c, config("require"));
        const outcome = async (mode: Isolation) => {
            setIsolation(mode);
            return stack.preview().then(
                () => "passed",
                (e: Error) => e.message,
            );
        };
        const open = await outcome("none");
        assert.match(open, new RegExp(`image isolation: 2 namespaces are not known to keep tenants' pulled images apart on shared nodes:\\n\\s+- ${c}: a pod without credentials runs the images other tenants pulled \\(no AlwaysPullImages, and no KubeletEnsureSecretPulledImages on node registry-access-node\\)`));
        assert.ok(!open.includes(env.REGISTRY_PASSWORD), "the message holds the password");
        assert.equal(await outcome("always-pull"), "passed");
        assert.equal(await outcome("kubelet"), "passed");

        await stack.setConfig(config("warn"));
        setIsolation("none");
        await stack.preview();
        assert.match(stack.log.join(""), /warning: image isolation: 2 namespaces are not known/);
        assert.equal((await stack.preview()).changeSummary.create, 9);
    });
});
