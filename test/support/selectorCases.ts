/** Label selector cases: the labels of a namespace, and whether the API server lists it for the selector. */
import type { LabelSelector } from "../../components/labelSelector";

export const SELECTOR_CASES: { selector: LabelSelector; string: string; labels: Record<string, string>; matches: boolean }[] = [
    { selector: {}, string: "", labels: {}, matches: true },
    { selector: { matchLabels: { "field.cattle.io/projectId": "p-abc" } }, string: "field.cattle.io/projectId=p-abc", labels: { "field.cattle.io/projectId": "p-abc" }, matches: true },
    { selector: { matchLabels: { "field.cattle.io/projectId": "p-abc" } }, string: "field.cattle.io/projectId=p-abc", labels: { "field.cattle.io/projectId": "p-xyz" }, matches: false },
    { selector: { matchLabels: { team: "a" } }, string: "team=a", labels: {}, matches: false },
    { selector: { matchLabels: { team: "" } }, string: "team=", labels: { team: "" }, matches: true },
    { selector: { matchExpressions: [{ key: "env", operator: "In", values: ["dev", "test"] }] }, string: "env in (dev,test)", labels: { env: "test" }, matches: true },
    { selector: { matchExpressions: [{ key: "env", operator: "In", values: ["dev", "test"] }] }, string: "env in (dev,test)", labels: {}, matches: false },
    // NotIn matches a namespace without the label at all.
    { selector: { matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }, string: "env notin (prod)", labels: {}, matches: true },
    { selector: { matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }, string: "env notin (prod)", labels: { env: "prod" }, matches: false },
    { selector: { matchExpressions: [{ key: "legacy", operator: "Exists" }] }, string: "legacy", labels: { legacy: "" }, matches: true },
    { selector: { matchExpressions: [{ key: "legacy", operator: "DoesNotExist" }] }, string: "!legacy", labels: { legacy: "x" }, matches: false },
    { selector: { matchExpressions: [{ key: "legacy", operator: "DoesNotExist" }] }, string: "!legacy", labels: { other: "x" }, matches: true },
    // Every requirement must hold.
    {
        selector: { matchLabels: { team: "a" }, matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }, { key: "legacy", operator: "DoesNotExist" }] },
        string: "team=a,env notin (prod),!legacy",
        labels: { team: "a", env: "dev" },
        matches: true,
    },
    {
        selector: { matchLabels: { team: "a" }, matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }, { key: "legacy", operator: "DoesNotExist" }] },
        string: "team=a,env notin (prod),!legacy",
        labels: { team: "a", env: "dev", legacy: "1" },
        matches: false,
    },
    // A label named like an Object member is a label like any other.
    { selector: { matchExpressions: [{ key: "constructor", operator: "Exists" }] }, string: "constructor", labels: {}, matches: false },
];
