/** One notion of a source address: mapped IPv4, IPv6 case and zone ids, /64 grouping. */
import { describe, expect, it } from 'vitest';
import { normalizeSource, sourceKey } from '../../../src/core/index.js';

describe('normalizeSource', () => {
  it.each([
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:10.1.2.3', '10.1.2.3'],
    ['::ffff:a01:203', '10.1.2.3'],
    ['0:0:0:0:0:ffff:7f00:1', '127.0.0.1'],
    ['10.1.2.3', '10.1.2.3'],
    ['2001:DB8::1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::1', '::1'],
    ['unknown', 'unknown'],
    ['', ''],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeSource(input)).toBe(expected);
  });
});

describe('sourceKey', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8::/64'],
    ['2001:db8:0:0:1::1', '2001:db8::/64'],
    ['::1', '::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
    ['1:2:3:4::', '1:2:3:4::/64'],
    ['1:0:3:4::', '1:0:3:4::/64'],
    ['1::4:0:0:0:0', '1:0:0:4::/64'],
  ])('%s -> %s', (input, expected) => {
    expect(sourceKey(input)).toBe(expected);
  });
});
