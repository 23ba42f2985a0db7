import { describe, expect, it } from 'vitest';
import { diffHostState, normaliseIptablesSave, type HostState } from './host-state.ts';

const host: HostState = {
  cgroups: [],
  mounts: ['/ ext4 /dev/vda'],
  links: ['eth0 device', 'lo device'],
  routes: ['default via 192.0.2.1 dev eth0'],
  iptables: { ipv4: ['*filter', ':INPUT ACCEPT', 'COMMIT'], ipv6: [] },
  nftTables: [],
  sysctls: { 'net.ipv4.ip_forward': '0' },
  paths: { '/var/lib/cni': false },
};

describe('diffHostState', () => {
  it('is empty for the same state', () => {
    expect(diffHostState(host, structuredClone(host))).toEqual([]);
  });

  it('names every kind of difference a node leaves behind', () => {
    const after: HostState = {
      ...host,
      cgroups: ['/sys/fs/cgroup/cpu/kubepods'],
      mounts: [...host.mounts, '/run/netns/cni-1 nsfs nsfs'],
      links: [...host.links, 'cni0 bridge'],
      routes: [],
      iptables: { ipv4: [...host.iptables.ipv4, ':KUBE-SERVICES -'], ipv6: [] },
      nftTables: ['ip nat'],
      sysctls: { 'net.ipv4.ip_forward': '1' },
      paths: { '/var/lib/cni': true },
    };
    expect(diffHostState(host, after)).toEqual([
      'cgroup added: /sys/fs/cgroup/cpu/kubepods',
      'mount added: /run/netns/cni-1 nsfs nsfs',
      'link added: cni0 bridge',
      'route removed: default via 192.0.2.1 dev eth0',
      'iptables rule added: :KUBE-SERVICES -',
      'nft table added: ip nat',
      'sysctl net.ipv4.ip_forward: 0 -> 1',
      'path /var/lib/cni: absent -> exists',
    ]);
  });
});

describe('normaliseIptablesSave', () => {
  it('drops comments and packet counters', () => {
    expect(
      normaliseIptablesSave('# Generated\n*nat\n:PREROUTING ACCEPT [3:180]\n-A X -j Y\nCOMMIT\n'),
    ).toEqual(['*nat', ':PREROUTING ACCEPT', '-A X -j Y', 'COMMIT']);
  });
});
