import * as assert from "node:assert/strict";
import { validateStackConfig } from "../components/config";
import { describeStuckPod, stuckPods } from "../components/stuckPods";

const config = validateStackConfig({
    tenants: [
        { namespace: "team-a", serviceAccounts: ["default", "ci"], registries: [{ server: "registry.example.org", username: "u", password: "p" }] },
        { namespace: "team-b", registries: [{ server: "ghcr.io", username: "u", password: "p" }] },
    ],
});
const names = (t: { registries: { secretName: string }[] }) => t.registries.map((r) => r.secretName);

const pod = (namespace: string, name: string, { account, secrets = [], reason = "ImagePullBackOff", init = false, owner }: { account?: string; secrets?: string[]; reason?: string; init?: boolean; owner?: { kind: string; name: string; controller?: boolean } } = {}) => ({
    metadata: { name, namespace, ...(owner ? { ownerReferences: [{ controller: true, ...owner }] } : {}) },
    spec: { ...(account ? { serviceAccountName: account } : {}), imagePullSecrets: secrets.map((s) => ({ name: s })) },
    status: { [init ? "initContainerStatuses" : "containerStatuses"]: [{ state: { waiting: { reason } } }] },
});

describe("pods created before their ServiceAccount was patched", () => {
    it("finds a pod of a patched account that lists none of the stack's Secrets and waits on a pull, with its controller", () => {
        const list = JSON.stringify({
            items: [
                pod("team-a", "web-1", { owner: { kind: "ReplicaSet", name: "web-5d9" } }),
                pod("team-a", "ci-1", { account: "ci", reason: "ErrImagePull", init: true }),
                // Admitted after the patch: it lists the Secret, and fails for another reason.
                pod("team-a", "late", { secrets: ["regcred-registry-example-org"] }),
                // Not an account the stack patches.
                pod("team-a", "other", { account: "builder" }),
                // Waiting, but not on a pull.
                pod("team-b", "starting", { reason: "ContainerCreating" }),
                // Another namespace than the stack's.
                pod("elsewhere", "x"),
                pod("team-b", "job-x", { owner: { kind: "Job", name: "nightly", controller: false } }),
            ],
        });
        assert.deepEqual(stuckPods(list, config.tenants, names), [
            { namespace: "team-a", pod: "web-1", owner: "ReplicaSet/web-5d9" },
            { namespace: "team-a", pod: "ci-1", owner: "none" },
            // An owner that is not its controller makes no new pod.
            { namespace: "team-b", pod: "job-x", owner: "none" },
        ]);
    });

    it("says undefined for anything but a pod list", () => {
        for (const bad of ["", "nope", "{}", '{"items": {}}']) {
            assert.equal(stuckPods(bad, config.tenants, names), undefined, bad);
        }
    });

    it("reads as namespace/pod with its controller, or the way out when none will make it again", () => {
        assert.equal(describeStuckPod({ namespace: "a", pod: "p", owner: "ReplicaSet/r" }), "a/p (ReplicaSet/r)");
        assert.equal(describeStuckPod({ namespace: "a", pod: "p", owner: "none" }), "a/p (no controller: delete and create it again)");
    });
});
