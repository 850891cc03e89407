/**
 * A stack that follows the cluster: namespaces chosen by a label selector (a Rancher project's
 * label) and `serviceAccounts: "*"`, resolved at each run. Through the CLI and the real provider
 * on a real API server, and the kubelet pulling with what the stack declared.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { eventually, getObject, kubectl, kubectlNamespace, pullSecretNames, serviceAccount } from "./support/cluster";
import { TestStack } from "./support/engine";
import { assertPulled, runImageJob } from "./support/jobs";
import { suiteNamespaces } from "./support/names";
import { loadRegistryEnv, type RegistryEnv } from "./support/registryEnv";

const PROJECT_LABEL = "field.cattle.io/projectId";

describe("following the cluster: namespaceSelector and serviceAccounts \"*\"", function () {
    this.timeout(900000);
    const namespace = suiteNamespaces();
    let env: RegistryEnv;
    before(async () => {
        env = await loadRegistryEnv();
    });
    const registry = () => ({ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password: env.REGISTRY_PASSWORD });
    const secretName = () => `regcred-${env.REGISTRY_BASIC_HOST.replace(/[^a-z0-9]+/g, "-")}`;
    const image = () => `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`;

    async function labelled(label: string, project: string): Promise<string> {
        const ns = namespace(label);
        await kubectlNamespace(ns);
        await kubectl(["label", "namespace", ns, `${PROJECT_LABEL}=${project}`]);
        return ns;
    }

    const hasSecret = async (ns: string) => (await getObject("secret", ns, secretName())) !== undefined;

    it("1. a project's namespaces: the matched get the Secret and the patch, a later one at the next up and pulls; unlabelled or deleted, the next up lets go", async () => {
        const project = `p-${randomBytes(3).toString("hex")}`;
        const a = await labelled("proj-a", project);
        const b = await labelled("proj-b", project);
        const other = await labelled("proj-other", `${project}x`);
        const stack = await TestStack.create(namespace("proj-stack"), { namespaceSelector: { matchLabels: { [PROJECT_LABEL]: project } }, registries: [registry()] });

        const from = stack.log.length;
        await stack.preview();
        const previewed = stack.log.slice(from).join("");
        assert.match(previewed, new RegExp(`namespaceSelector \\(${PROJECT_LABEL}=${project}\\) matches ${[a, b].sort().join(", ")}`), previewed);

        await stack.up();
        for (const ns of [a, b]) {
            assert.ok(await hasSecret(ns), `no Secret in ${ns}`);
            assert.deepEqual(pullSecretNames(await serviceAccount(ns)), [secretName()], ns);
        }
        assert.equal(await hasSecret(other), false, "the namespace of another project got the Secret");
        assert.deepEqual(pullSecretNames(await serviceAccount(other)), []);

        // A namespace made afterwards, in the project: the next up reaches it, and a pod there pulls.
        const late = await labelled("proj-late", project);
        assert.equal(await hasSecret(late), false);
        await stack.up();
        assert.ok(await hasSecret(late), "the next up did not reach the new namespace");
        assertPulled(await runImageJob(late, image(), { pullPolicy: "Always" }), `a pod in ${late}, which joined the project after the first up`);

        // Out of the project: the stack lets go of its objects there, the namespace stays.
        await kubectl(["label", "namespace", a, `${PROJECT_LABEL}-`]);
        await stack.up();
        assert.equal(await hasSecret(a), false, "the Secret stayed in the namespace that left the project");
        assert.deepEqual(pullSecretNames(await serviceAccount(a)), []);
        assert.ok(await getObject("namespace", undefined, a), "the stack deleted a namespace it only adopted");

        // A matched namespace deleted: a plain up stops (provider 4.25 relinquishes the ServiceAccount
        // list with an apply, which the API server refuses in a namespace that is gone); up --refresh,
        // the reconcile's command, drops its objects from the state and succeeds.
        await kubectl(["delete", "namespace", b, "--wait=true", "--timeout=120s"]);
        await assert.rejects(stack.up(), new RegExp(`namespaces "${b}" not found`));
        await stack.up({ refresh: true });
        const state = await stack.exportText();
        assert.ok(!state.includes(`${b}/${secretName()}`), "the deleted namespace's Secret is still in the state");
        assert.ok(await hasSecret(late));

        await stack.destroy();
        assert.equal(await hasSecret(late), false);
        assert.ok(await getObject("namespace", undefined, late), "destroy deleted an adopted namespace");
    });

    it("4. a pod started before its namespace was reached: reported by the up, and with restartStuckPods made again by its controller, with the Secret, and pulls", async () => {
        const project = `p-${randomBytes(3).toString("hex")}`;
        const ns = await labelled("stuck", project);
        // A Job, as XNAT launches them (the local control plane runs the job controller, not the
        // Deployment one): its pod is made before the stack's first up, so it lists no pull secret.
        const job = {
            apiVersion: "batch/v1",
            kind: "Job",
            metadata: { name: "web", namespace: ns },
            spec: {
                backoffLimit: 3,
                template: {
                    metadata: { labels: { app: "web" } },
                    // The node has no cluster DNS; the image needs none.
                    spec: { restartPolicy: "Never", dnsPolicy: "Default", containers: [{ name: "main", image: image(), imagePullPolicy: "Always" }] },
                },
            },
        };
        await kubectl(["create", "-f", "-"], JSON.stringify(job));
        type PodList = { items: { metadata: { name: string }; spec: { imagePullSecrets?: { name: string }[] }; status: { containerStatuses?: { state: Record<string, { reason?: string }>; imageID?: string }[] } }[] };
        const pods = async () => (JSON.parse(await kubectl(["get", "pods", "-n", ns, "-l", "app=web", "-o", "json"])) as PodList).items;
        const waitingOnPull = (p: PodList["items"][number]) => ["ErrImagePull", "ImagePullBackOff"].includes(p.status.containerStatuses?.[0]?.state.waiting?.reason ?? "");
        const stuck = await eventually("the pod to fail its pull", async () => (await pods()).find(waitingOnPull), 120000);

        const stack = await TestStack.create(namespace("stuck-stack"), { namespaceSelector: { matchLabels: { [PROJECT_LABEL]: project } }, registries: [registry()] });
        const reported = await stack.up();
        const listed = reported.outputs.stuckPods?.value as { namespace: string; pod: string; owner: string }[];
        assert.deepEqual(listed, [{ namespace: ns, pod: stuck.metadata.name, owner: listed[0].owner }]);
        assert.equal(listed[0].owner, "Job/web");
        assert.ok(stack.log.join("").includes(`${ns}/${stuck.metadata.name} (Job/web)`), "the up did not report the pod");
        assert.ok((await pods()).some((p) => p.metadata.name === stuck.metadata.name), "the pod was deleted without restartStuckPods");

        await stack.setConfig({ namespaceSelector: { matchLabels: { [PROJECT_LABEL]: project } }, registries: [registry()], restartStuckPods: true });
        await stack.up();
        const remade = await eventually(
            "the controller's new pod to pull",
            async () => (await pods()).find((p) => p.metadata.name !== stuck.metadata.name && (p.status.containerStatuses?.[0]?.imageID ?? "") !== ""),
            120000,
        );
        assert.deepEqual(remade.spec.imagePullSecrets, [{ name: secretName() }]);
        assert.ok(!(await pods()).some((p) => p.metadata.name === stuck.metadata.name), "the stuck pod is still there");
        await kubectl(["delete", "job", "web", "-n", ns]);
        await stack.destroy();
    });

    it("2. serviceAccounts \"*\": a ServiceAccount made after the deploy lists the Secret after the next up, and a pod running as it pulls", async () => {
        const ns = namespace("every-sa");
        const stack = await TestStack.create(ns, { namespace: ns, serviceAccounts: "*", excludeServiceAccounts: ["left-alone"], registries: [registry()] });
        await stack.up();
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), [secretName()]);

        for (const account of ["pipelines", "left-alone"]) {
            await kubectl(["create", "serviceaccount", account, "-n", ns]);
        }
        await stack.up();
        assert.deepEqual(pullSecretNames(await serviceAccount(ns, "pipelines")), [secretName()]);
        assert.deepEqual(pullSecretNames(await serviceAccount(ns, "left-alone")), [], "an excluded ServiceAccount was patched");
        assertPulled(await runImageJob(ns, image(), { serviceAccountName: "pipelines", pullPolicy: "Always" }), "a pod running as a ServiceAccount made after the first up");
        await stack.destroy();
    });
});
