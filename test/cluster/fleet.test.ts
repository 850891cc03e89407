/**
 * A fleet: one environment's tenants over several stacks of one backend (docs/deploy.md, "Hundreds
 * of tenants"). What happens when two stacks list the same namespace, and how a tenant moves from
 * one stack to another without any object being replaced. The real CLI and provider on a real
 * API server (support/engine.ts).
 */
import * as assert from "node:assert/strict";
import { getObject, kubectl, pullSecretNames, serviceAccount } from "./support/cluster";
import { TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";

const registry = (server: string, password: string) => ({ server, username: "puller", password });

/** The uids of a tenant's objects: the same uids after a change mean nothing was replaced. */
async function uids(namespace: string, secrets: string[]): Promise<(string | undefined)[]> {
    const objects = await Promise.all([getObject("namespace", undefined, namespace), ...secrets.map((s) => getObject("secret", namespace, s))]);
    return objects.map((o) => o?.metadata.uid);
}

describe("a fleet of stacks", function () {
    this.timeout(600000);
    const namespace = suiteNamespaces();

    it("one namespace in two stacks: the second's up stops before declaring anything, naming the first stack, whose list stays", async () => {
        const ns = namespace("overlap");
        const first = await TestStack.create(ns, { namespace: ns, registries: [registry("a.example.org", "pw-a")] });
        await first.up();
        // The slip a fleet invites: the same tenant listed in a second stack file.
        const second = await TestStack.create(`${ns}-b`, { namespace: ns, registries: [registry("b.example.org", "pw-b")] });
        await assert.rejects(second.up(), (err: Error) => {
            // The first stack's mark on the namespace (components/namespaceOwnership.ts): nothing is
            // taken over, so the second stack's destroy cannot delete it.
            assert.match(err.message, new RegExp(`registry-access:createNamespace: namespace '${ns}' exists and belongs to stack '${first.name}'`));
            return true;
        });
        // A failed up records the Stack resource, and nothing else.
        const held = JSON.parse(await second.exportText()) as { deployment: { resources?: { type: string }[] } };
        assert.deepEqual((held.deployment.resources ?? []).map((r) => r.type).filter((t) => t !== "pulumi:pulumi:Stack"), [], "the second stack holds something");
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-a-example-org"], "the second stack changed the first's list");
        await second.destroy();
        assert.ok(await getObject("namespace", undefined, ns), "the second stack's destroy deleted the first's namespace");
        await first.preview({ expectNoChanges: true });
    });

    it("a tenant moved to another stack with pulumi state move keeps every object; one forced up hands its ServiceAccount list over", async () => {
        const [stay, move] = [namespace("stays"), namespace("moves")];
        const tenant = (ns: string) => ({ namespace: ns, registries: [registry("a.example.org", "pw-a"), registry("b.example.org", "pw-b")] });
        const secrets = ["regcred-a-example-org", "regcred-b-example-org"];
        const source = await TestStack.create(stay, { tenants: [tenant(stay), tenant(move)] });
        await source.up();
        const before = await uids(move, secrets);

        // The destination exists with the moved tenant's config; its state is empty until the move.
        const dest = await TestStack.create(`${move}-dest`, { tenants: [tenant(move)] });
        // The tenant's component: its children (Namespace, Secrets, patch) move with it.
        const urn = `urn:pulumi:${source.name}::registry-access::registry-access:index:RegistryAccess::${move}`;
        const moved = await dest.cli(["state", "move", "--source", source.name, "--dest", dest.name, "--yes", urn], { stack: false });
        assert.equal(moved.code, 0, moved.output);
        await source.setConfig({ tenants: [tenant(stay)] });

        // The source no longer holds the tenant: nothing to delete, nothing to change.
        await source.preview({ expectNoChanges: true });
        // The namespace still carries the source's mark: the destination stops until it is handed over.
        await assert.rejects(dest.preview(), new RegExp(`namespace '${move}' exists and belongs to stack '${source.name}'`));
        await kubectl(["annotate", "--overwrite", "namespace", move, `registry-access/stack=${dest.name}`]);
        // The destination patches under its own field manager, which the source's still holds.
        await assert.rejects(dest.preview(), (err: Error) => {
            assert.match(err.message, new RegExp(`conflict with "registry-access-${source.name}": \\.metadata\\.annotations\\.pulumi\\.com/patchFieldManager`));
            return true;
        });
        // One forced up takes the patch over (docs/deploy.md): updates (the patch, and the Namespace's
        // mark in the state), never a create, replace or delete.
        const forced = await dest.cli(["up", "--yes", "--skip-preview"], { env: { PULUMI_K8S_ENABLE_PATCH_FORCE: "true" } });
        assert.equal(forced.code, 0, forced.output);
        const summary = forced.output.slice(forced.output.lastIndexOf("Resources:"));
        assert.match(summary, /~ 2 updated/, summary);
        assert.doesNotMatch(summary, /created|replaced|deleted/, summary);
        await dest.preview({ expectNoChanges: true });
        assert.deepEqual(await uids(move, secrets), before, "an object of the moved tenant was replaced");
        assert.deepEqual(pullSecretNames(await serviceAccount(move)), secrets);
        const fields = ((await serviceAccount(move))?.metadata.managedFields ?? []) as { manager: string }[];
        const managers = fields.map((f) => f.manager);
        assert.ok(managers.includes(`registry-access-${dest.name}`), `the destination does not manage the list: ${managers.join(", ")}`);
        assert.ok(!managers.includes(`registry-access-${source.name}`), `the source still manages the moved tenant's list: ${managers.join(", ")}`);

        // Each stack's destroy deletes its own tenants only.
        await source.destroy();
        assert.ok(await getObject("namespace", undefined, move), "destroying the source deleted the moved tenant's namespace");
        await dest.destroy();
    });
});
