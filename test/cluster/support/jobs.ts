/** Jobs like XNAT's Container Service's on the node: batch/v1, no pull secret of their own. */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { eventually, kubectl } from "./cluster";

export interface JobRun {
    outcome: "succeeded" | "pull-failed";
    log: string;
    events: { type: string; reason: string; message: string }[];
    /** Create to completion or to the pull's failure. */
    seconds: number;
}

/**
 * Runs IMAGE as a Job in NS and waits until it completes or its pod cannot pull. PULLPOLICY is
 * the container's imagePullPolicy; absent, the API server's default (or admission's) applies,
 * as for XNAT's Jobs, which set none.
 */
export async function runImageJob(ns: string, image: string, { serviceAccountName = "default", pullPolicy }: { serviceAccountName?: string; pullPolicy?: "Always" | "IfNotPresent" } = {}): Promise<JobRun> {
    const name = `job-${randomBytes(3).toString("hex")}`;
    const job = {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name, namespace: ns },
        spec: {
            backoffLimit: 0,
            template: {
                spec: {
                    restartPolicy: "Never",
                    serviceAccountName,
                    // The node has no cluster DNS; the image needs none.
                    dnsPolicy: "Default",
                    containers: [{ name: "main", image, ...(pullPolicy ? { imagePullPolicy: pullPolicy } : {}) }],
                },
            },
        },
    };
    const start = Date.now();
    await kubectl(["create", "-f", "-"], JSON.stringify(job));
    const outcome = await eventually(
        `job ${ns}/${name}`,
        async () => {
            const j = JSON.parse(await kubectl(["get", "job", name, "-n", ns, "-o", "json"])) as { status: { succeeded?: number } };
            if (j.status.succeeded === 1) {
                return "succeeded" as const;
            }
            const pods = JSON.parse(await kubectl(["get", "pods", "-n", ns, "-l", `job-name=${name}`, "-o", "json"])) as {
                items: { status: { containerStatuses?: { state: { waiting?: { reason: string } } }[] } }[];
            };
            const waiting = pods.items[0]?.status.containerStatuses?.[0]?.state.waiting?.reason;
            // The first failed pull: the back-off that follows adds 10-15 s and tells nothing more.
            return waiting === "ErrImagePull" || waiting === "ImagePullBackOff" ? ("pull-failed" as const) : undefined;
        },
        // A new namespace's first pod may wait for the Job controller's retry backoff.
        240000,
    ).catch(async (err: unknown) => {
        // What the Job, its pods and their events looked like at the deadline, for the next look.
        const state = await kubectl(["get", "job,pods,events", "-n", ns, "-o", "wide"]).catch((e: unknown) => String(e));
        throw new Error(`${String(err)}\n${state}`);
    });
    const seconds = (Date.now() - start) / 1000;
    const pod = (await kubectl(["get", "pods", "-n", ns, "-l", `job-name=${name}`, "-o", "jsonpath={.items[0].metadata.name}"])).trim();
    const podEvents = async () =>
        (
            JSON.parse(await kubectl(["get", "events", "-n", ns, "--field-selector", `involvedObject.name=${pod}`, "-o", "json"])) as {
                items: { type: string; reason: string; message: string }[];
            }
        ).items.map(({ type, reason, message }) => ({ type, reason, message }));
    // A failed pull's event (with the registry's answer) may be recorded just after the status.
    const events =
        outcome === "succeeded" ? await podEvents() : await eventually("the failed pull's event", async () => ((await podEvents()).some((e) => /Failed to pull image/.test(e.message)) ? podEvents() : undefined));
    const log = outcome === "succeeded" ? await kubectl(["logs", "-n", ns, pod]) : "";
    return { outcome, log, events, seconds };
}

export const assertPulled = (run: JobRun, what: string) => {
    assert.equal(run.outcome, "succeeded", `${what}: ${JSON.stringify(run.events)}`);
    assert.equal(run.log, "hello from registry-access\n");
};

/** The pull failed with the registry's 401, and nothing else went wrong. */
export const assertRefused = (run: JobRun, what: string) => {
    assert.equal(run.outcome, "pull-failed", `${what}: ${JSON.stringify(run.events)}`);
    const warnings = run.events.filter((e) => e.type === "Warning");
    assert.ok(
        warnings.some((e) => e.reason === "Failed" && /401 Unauthorized/.test(e.message)),
        `${what}: no 401 in ${JSON.stringify(warnings)}`,
    );
    for (const e of warnings) {
        assert.ok(["Failed", "BackOff"].includes(e.reason) && /pull|ErrImagePull|ImagePullBackOff/i.test(e.message), `${what}: unexpected ${JSON.stringify(e)}`);
    }
};
