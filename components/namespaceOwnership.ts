/**
 * Whether each namespace the stack would create is absent or already this stack's (docs/ownership.md,
 * "Existing objects"). Provider 4.25 creates by server-side apply, an upsert: a Namespace declared
 * over an existing one takes it over without a word, and destroy (or removing the tenant) then
 * deletes it with everything in it. So every Namespace the stack creates carries
 * OWNER_ANNOTATION (the stack's name), and before anything is declared the cluster is asked, with
 * one list call, which namespaces exist: one that exists without this stack's mark stops the run.
 * The mark, not the state, is the proof: the program cannot read its stack's state, and a mark the
 * stack applied survives a second `up`, `pulumi refresh` and `up --refresh`.
 */
import { formatProblems, type Problem, quote } from "./config";
import { type Kubectl, kubectlFailure, unreachable } from "./cluster";
import { listedNamespaces } from "./namespaceSelection";

/** The annotation naming the stack that created a namespace (and whose destroy deletes it). */
export const OWNER_ANNOTATION = "registry-access/stack";

export interface NamespaceToCreate {
    /** Key path of the tenant (`tenants[2]`), or "" for the top-level namespace. */
    path: string;
    namespace: string;
}

/** What the program does: stop with an error, warn and go on, or nothing. */
export interface OwnershipAnswer {
    stop?: string;
    warn?: string;
}

const at = (t: NamespaceToCreate) => `${t.path ? `${t.path}.` : ""}createNamespace`;

function problemFor(t: NamespaceToCreate, owner: string | undefined, stack: string): Problem {
    const adopt = `set createNamespace: false to use it and leave it on destroy (pulumi config set --path '${at(t)}' false)`;
    const mark = `kubectl annotate --overwrite namespace ${t.namespace} ${OWNER_ANNOTATION}=${stack}`;
    if (owner === undefined) {
        return {
            path: at(t),
            message: `namespace '${t.namespace}' exists and this stack did not create it: up would take it over, and destroy would delete it with everything in it`,
            fix: `${adopt}; or, if this stack is to own it (or holds it from before namespaces were marked), mark it: ${mark}`,
        };
    }
    return {
        path: at(t),
        // Anyone may write the annotation: quoted, so it cannot add lines to the message.
        message: `namespace '${t.namespace}' exists and belongs to stack ${quote(owner)} (its ${OWNER_ANNOTATION} annotation): up would take it over, and destroy would delete it`,
        fix: `a namespace belongs to one stack: remove it from this one, or ${adopt}; after moving the tenant here with pulumi state move, mark it: ${mark}`,
    };
}

/**
 * Asks the cluster whether the namespaces to create exist, and answers for STACK. Nothing to ask
 * for an empty list. A cluster that does not answer at all is a warning (the provider cannot deploy
 * there either); any other failure to tell stops, since up could then take over a namespace.
 */
export async function namespaceOwnership(targets: NamespaceToCreate[], stack: string, kubectl: Kubectl): Promise<OwnershipAnswer> {
    if (targets.length === 0) {
        return {};
    }
    const r = await kubectl(["get", "namespaces", "-o", "json"]);
    const namespaces = r.code === 0 ? listedNamespaces(r.stdout) : undefined;
    const listed = namespaces && new Map(namespaces.map((ns) => [ns.name, ns.owner]));
    if (listed === undefined) {
        const why = r.code === 0 ? "kubectl's answer was not a namespace list" : kubectlFailure(r);
        const names = targets.map((t) => `'${t.namespace}'`).join(", ");
        if (unreachable(r)) {
            return { warn: `cannot tell whether the namespaces this stack creates exist already (the cluster did not answer: ${why}): ${names}` };
        }
        const problems = targets.map((t) => ({
            path: at(t),
            message: `cannot tell whether namespace '${t.namespace}' exists already (${why}); if it does, up would take it over and destroy would delete it`,
            fix: `let kubectl list namespaces with the provider's settings (kubernetes:kubeconfig, kubernetes:context, kubernetes:cluster or KUBECONFIG), or set createNamespace: false for a namespace that exists`,
        }));
        return { stop: formatProblems(problems, "existing namespaces") };
    }
    const problems = targets.flatMap((t) => {
        if (!listed.has(t.namespace)) {
            return [];
        }
        const owner = listed.get(t.namespace);
        return owner === stack ? [] : [problemFor(t, owner, stack)];
    });
    return problems.length > 0 ? { stop: formatProblems(problems, "existing namespaces") } : {};
}
