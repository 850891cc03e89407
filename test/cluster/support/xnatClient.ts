/**
 * The API calls XNAT's Container Service makes (container-service 3.7.3, KubernetesClientImpl),
 * made with nothing but a kubeconfig: its server, CA, token and context namespace. Plain HTTPS,
 * so each call is exactly one request and its status is the API server's own.
 */
import { request } from "node:https";
import { parse } from "yaml";

interface Kubeconfig {
    clusters: { name: string; cluster: { server: string; "certificate-authority-data": string } }[];
    users: { name: string; user: { token: string } }[];
    contexts: { name: string; context: { cluster: string; user: string; namespace: string } }[];
    "current-context": string;
}

export interface ApiResponse {
    status: number;
    body: string;
}

export class XnatClient {
    readonly namespace: string;
    private readonly server: string;
    private readonly ca: string;
    private readonly token: string;

    constructor(kubeconfig: string) {
        const config = parse(kubeconfig) as Kubeconfig;
        const { context } = config.contexts.find((c) => c.name === config["current-context"])!;
        const { cluster } = config.clusters.find((c) => c.name === context.cluster)!;
        this.namespace = context.namespace;
        this.server = cluster.server;
        this.ca = Buffer.from(cluster["certificate-authority-data"], "base64").toString();
        this.token = config.users.find((u) => u.name === context.user)!.user.token;
    }

    call(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<ApiResponse> {
        const url = new URL(path, this.server);
        return new Promise((resolve, reject) => {
            const req = request(
                url,
                {
                    method,
                    ca: this.ca,
                    headers: { authorization: `Bearer ${this.token}`, accept: "application/json", ...(body ? { "content-type": contentType } : {}) },
                    timeout: 10000,
                },
                (res) => {
                    let text = "";
                    res.setEncoding("utf8");
                    res.on("data", (c: string) => (text += c));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
                },
            );
            req.on("error", reject);
            req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
            req.end(body ? JSON.stringify(body) : undefined);
        });
    }

    private jobs = () => `/apis/batch/v1/namespaces/${this.namespace}/jobs`;

    /** createNamespacedJob: XNAT creates each Job suspended... */
    createJob(job: unknown) {
        return this.call("POST", this.jobs(), job);
    }

    /** ...and starts it with a strategic merge patch of spec.suspend. */
    startJob(name: string) {
        return this.call("PATCH", `${this.jobs()}/${name}`, { spec: { suspend: false } }, "application/strategic-merge-patch+json");
    }

    /** What its Job and Pod informers list (and then watch). */
    listJobs() {
        return this.call("GET", this.jobs());
    }

    listPods(labelSelector: string) {
        return this.call("GET", `/api/v1/namespaces/${this.namespace}/pods?labelSelector=${encodeURIComponent(labelSelector)}`);
    }

    /** readNamespacedPodLog. */
    podLog(pod: string) {
        return this.call("GET", `/api/v1/namespaces/${this.namespace}/pods/${pod}/log`);
    }

    /** deleteNamespacedJob with Foreground propagation. */
    deleteJob(name: string) {
        return this.call("DELETE", `${this.jobs()}/${name}?propagationPolicy=Foreground`);
    }
}
