/**
 * Kubernetes label selectors (metav1.LabelSelector), matched as the API server matches them
 * (k8s.io/apimachinery labels.Requirement.Matches), so that a stack reaches exactly the namespaces
 * `kubectl get namespaces -l <selector>` lists. test/cluster/selectors.test.ts holds the two side by
 * side on a real API server.
 */

export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface LabelSelectorRequirement {
    key: string;
    operator: SelectorOperator;
    values?: string[];
}

export interface LabelSelector {
    matchLabels?: Record<string, string>;
    matchExpressions?: LabelSelectorRequirement[];
}

/** The requirements of a selector: matchLabels are `In` with one value. */
function requirements(selector: LabelSelector): LabelSelectorRequirement[] {
    return [
        ...Object.entries(selector.matchLabels ?? {}).map(([key, value]): LabelSelectorRequirement => ({ key, operator: "In", values: [value] })),
        ...(selector.matchExpressions ?? []),
    ];
}

/** Whether LABELS satisfy every requirement; an empty selector matches everything. */
export function matchesSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
    return requirements(selector).every(({ key, operator, values = [] }) => {
        const has = Object.hasOwn(labels, key);
        switch (operator) {
            case "In":
                return has && values.includes(labels[key]);
            case "NotIn":
                // A namespace without the label is not in any set: it matches.
                return !has || !values.includes(labels[key]);
            case "Exists":
                return has;
            case "DoesNotExist":
                return !has;
        }
    });
}

/** The selector in kubectl's `-l` syntax (`team=a,env in (dev,test),!legacy`), for people and tests. */
export function selectorString(selector: LabelSelector): string {
    return requirements(selector)
        .map(({ key, operator, values = [] }) => {
            switch (operator) {
                case "In":
                    return values.length === 1 ? `${key}=${values[0]}` : `${key} in (${values.join(",")})`;
                case "NotIn":
                    return `${key} notin (${values.join(",")})`;
                case "Exists":
                    return key;
                case "DoesNotExist":
                    return `!${key}`;
            }
        })
        .join(",");
}
