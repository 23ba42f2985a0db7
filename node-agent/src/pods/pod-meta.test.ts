import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PodMetaError, cgroupUidOf, slimPod, toPodMeta } from './pod-meta.ts';

const base: V1Pod = {
  metadata: {
    uid: '11111111-2222-3333-4444-555555555555',
    namespace: 'agents',
    name: 'run-1',
    labels: { app: 'agent' },
    annotations: {
      'agentmeter.dev/session-id': 's-1',
      'agentmeter.dev/other': 'x',
      'resource.opentelemetry.io/session.id': 'otel-s',
      'kubectl.kubernetes.io/last-applied-configuration': '{"huge":"blob"}',
      'example.com/unrelated': 'y',
    },
    ownerReferences: [
      { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'u' },
      { apiVersion: 'batch/v1', kind: 'Job', name: 'run', uid: 'j', controller: true },
    ],
  },
  spec: { containers: [], nodeName: 'n1' },
  status: { phase: 'Running', podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }, { ip: 'fd00::5' }] },
};

describe('toPodMeta', () => {
  it('keeps only the annotations agentmeter reads and the controller owner', () => {
    const meta = toPodMeta(base);
    expect(meta).toEqual({
      uid: '11111111-2222-3333-4444-555555555555',
      namespace: 'agents',
      name: 'run-1',
      phase: 'Running',
      annotations: {
        'agentmeter.dev/session-id': 's-1',
        'agentmeter.dev/other': 'x',
        'resource.opentelemetry.io/session.id': 'otel-s',
      },
      labels: { app: 'agent' },
      podIPs: ['10.0.0.5', 'fd00::5'],
      hostNetwork: false,
      ownerRef: { kind: 'Job', name: 'run' },
      terminated: false,
    });
    expect(cgroupUidOf(meta)).toBe(meta.uid);
  });

  it('converts deletionTimestamp from a Date (typed client) and a string (watch JSON) alike', () => {
    const fromDate = toPodMeta({
      ...base,
      metadata: { ...base.metadata, deletionTimestamp: new Date('2026-01-02T03:04:05Z') },
    });
    const raw = {
      ...base,
      metadata: { ...base.metadata, deletionTimestamp: '2026-01-02T03:04:05Z' },
    };
    const fromString = toPodMeta(raw as unknown as V1Pod);
    expect(fromDate.deletionTimestamp).toBe('2026-01-02T03:04:05.000Z');
    expect(fromString.deletionTimestamp).toBe(fromDate.deletionTimestamp);
  });

  it('resolves a static pod to the config hash in its cgroup path', () => {
    const mirror = toPodMeta({
      ...base,
      metadata: {
        ...base.metadata,
        uid: 'aaaaaaaa-0000-0000-0000-000000000000',
        annotations: {
          'kubernetes.io/config.mirror': '0123456789abcdef0123456789abcdef',
          'kubernetes.io/config.hash': '0123456789abcdef0123456789abcdef',
          'kubernetes.io/config.source': 'file',
        },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'n' }],
      },
      spec: { containers: [], hostNetwork: true },
    });
    expect(mirror.mirrorOf).toBe('0123456789abcdef0123456789abcdef');
    expect(cgroupUidOf(mirror)).toBe('0123456789abcdef0123456789abcdef');
    expect(mirror.hostNetwork).toBe(true);
    expect(mirror.ownerRef).toEqual({ kind: 'Node', name: 'n1' });
    expect(Object.keys(mirror.annotations).sort()).toEqual([
      'kubernetes.io/config.hash',
      'kubernetes.io/config.mirror',
    ]);
  });

  it.each([
    ['Succeeded', true],
    ['Failed', true],
    ['Pending', false],
    ['Unknown', false],
  ])('phase %s → terminated %s', (phase, terminated) => {
    expect(toPodMeta({ ...base, status: { phase } }).terminated).toBe(terminated);
  });

  it('handles a fresh pod without status, labels or owners', () => {
    const meta = toPodMeta({ metadata: { uid: 'u', namespace: 'n', name: 'p' } });
    expect(meta).toEqual({
      uid: 'u',
      namespace: 'n',
      name: 'p',
      phase: '',
      annotations: {},
      labels: {},
      podIPs: [],
      hostNetwork: false,
      terminated: false,
    });
  });

  it('refuses a pod without identity or with a garbage timestamp', () => {
    expect(() => toPodMeta({ metadata: { namespace: 'n', name: 'p' } })).toThrow(PodMetaError);
    const bad = {
      metadata: { uid: 'u', namespace: 'n', name: 'p', deletionTimestamp: 'yesterday' },
    };
    expect(() => toPodMeta(bad as unknown as V1Pod)).toThrow(
      /deletionTimestamp is not a timestamp/,
    );
  });
});

describe('slimPod', () => {
  const variants: [string, V1Pod][] = [
    ['a running pod with owners and IPs', base],
    [
      'a static mirror pod on the host network, being deleted',
      {
        ...base,
        metadata: {
          ...base.metadata,
          annotations: {
            'kubernetes.io/config.mirror': 'hash-1',
            'kubernetes.io/config.hash': 'h',
          },
          deletionTimestamp: '2026-11-22T10:00:00Z' as unknown as Date,
          managedFields: [{ manager: 'kubelet', operation: 'Update' }],
        },
        spec: { containers: [{ name: 'c', image: 'i' }], hostNetwork: true },
        status: { phase: 'Succeeded', conditions: [{ type: 'Ready', status: 'False' }] },
      },
    ],
    ['a pod with no status yet', { metadata: base.metadata, spec: { containers: [] } }],
  ];

  it.each(variants)('keeps everything toPodMeta reads from %s', (_name, pod) => {
    expect(toPodMeta(slimPod(pod))).toEqual(toPodMeta(pod));
  });

  it('drops what the agent never reads', () => {
    const slim = slimPod(variants[1]?.[1] as V1Pod);
    expect(slim.metadata?.managedFields).toBeUndefined();
    expect(slim.status?.conditions).toBeUndefined();
    expect(slim.spec?.containers).toEqual([]);
    expect(slimPod(base).metadata?.annotations).not.toHaveProperty(
      'kubectl.kubernetes.io/last-applied-configuration',
    );
  });
});
