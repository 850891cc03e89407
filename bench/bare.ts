/** The smallest Pulumi program: one Namespace. The start-up reference for index.ts. */
import * as k8s from "@pulumi/kubernetes";

export = async () => {
    new k8s.core.v1.Namespace("bare", { metadata: { name: "bare" } });
    return {};
};
