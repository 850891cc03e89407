import { deleteNamespaces } from "./cluster";

let counter = 0;

/**
 * A fresh name per test (a namespace and the stack deploying it), so tests never see each
 * other's objects: a DNS-1123 label, unique per test process.
 */
export function freshName(label: string): string {
    return `ra-${label}-${process.pid.toString(36)}${(counter++).toString(36)}`;
}

/**
 * For a describe block: a function giving fresh namespace names, every one of which is deleted
 * (without waiting) after the block, whatever its tests left.
 */
export function suiteNamespaces(): (label: string) => string {
    const names: string[] = [];
    after(async () => {
        await deleteNamespaces(names);
    });
    return (label) => {
        const name = freshName(label);
        names.push(name);
        return name;
    };
}
