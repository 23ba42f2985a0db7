// Allocation tags (cost centers, CostPolicy spec.allocation.tags): the values an entry records,
// read from the pod's labels, its namespace's labels or a span's attributes when it is measured.
import type { AllocationTag } from '../costpolicy/types.ts';
import { FIELD_MAX_LENGTH, MAX_ENTRY_TAGS } from '../ledger/limits.ts';
import type { EntryTags } from '../ledger/types.ts';
import type { Labels } from './selector.ts';

/** A span-attribute tag: the tag's name and the attribute it reads. */
export interface SpanTag {
  readonly name: string;
  readonly attribute: string;
}

/** A value the ledger can hold: empty and over-long values count as no value (never cut). */
export function tagValue(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= FIELD_MAX_LENGTH.tagValue
    ? value
    : undefined;
}

/** Tags in name order, as the ledger writer's fast path expects them; undefined when none. */
export function sortedTags(tags: Iterable<readonly [string, string]>): EntryTags | undefined {
  const sorted = [...tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.length === 0 ? undefined : Object.fromEntries(sorted.slice(0, MAX_ENTRY_TAGS));
}

/** The values of the namespace-label and pod-label tags for a pod; tags without one are left out. */
export function labelTags(
  tags: readonly AllocationTag[] | undefined,
  podLabels: Labels,
  namespaceLabels: Labels,
): EntryTags | undefined {
  const out: [string, string][] = [];
  for (const tag of tags ?? []) {
    const raw =
      tag.podLabel !== undefined
        ? podLabels[tag.podLabel]
        : tag.namespaceLabel !== undefined
          ? namespaceLabels[tag.namespaceLabel]
          : undefined;
    const value = tagValue(raw);
    if (value !== undefined) out.push([tag.name, value]);
  }
  return sortedTags(out);
}

/** The span-attribute tags of a policy. */
export function spanTags(tags: readonly AllocationTag[] | undefined): SpanTag[] {
  const out: SpanTag[] = [];
  for (const tag of tags ?? []) {
    if (tag.spanAttribute !== undefined) out.push({ name: tag.name, attribute: tag.spanAttribute });
  }
  return out;
}

/** An entry's tags: the label tags, and the span tags of its calls (one set per entry). */
export function mergeTags(
  labels: EntryTags | undefined,
  spans: EntryTags | undefined,
): EntryTags | undefined {
  if (spans === undefined) return labels;
  if (labels === undefined) return spans;
  return sortedTags(Object.entries({ ...labels, ...spans }));
}
