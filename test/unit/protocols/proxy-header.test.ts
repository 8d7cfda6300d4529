import { describe, expect, it } from 'vitest';
import { trustList } from '../../../src/core/index.js';
import { MAX_PROXY_HEADER_BYTES, parseProxyHeader } from '../../../src/protocols/proxy-header.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: version 2, `command`, family/protocol byte, then `body`. */
function v2(command: number, familyProtocol: number, body: Buffer): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x20 | command;
  fixed[1] = familyProtocol;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, fixed, body]);
}

function tcp4Body(src: number[], dst: number[], srcPort: number, dstPort: number): Buffer {
  const body = Buffer.alloc(12);
  Buffer.from(src).copy(body, 0);
  Buffer.from(dst).copy(body, 4);
  body.writeUInt16BE(srcPort, 8);
  body.writeUInt16BE(dstPort, 10);
  return body;
}

const V1_TCP4 = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 2121\r\n');
const V2_TCP4 = v2(1, 0x11, tcp4Body([198, 51, 100, 9], [10, 0, 0, 1], 40000, 22));

describe('parseProxyHeader v1', () => {
  it('reads TCP4 and TCP6 headers and leaves what follows alone', () => {
    const bytes = Buffer.concat([V1_TCP4, Buffer.from('USER alice\r\n')]);
    expect(parseProxyHeader(bytes)).toEqual({ state: 'complete', length: V1_TCP4.length, source: { address: '203.0.113.7', port: 51234 } });
    const v6 = Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n');
    expect(parseProxyHeader(v6)).toEqual({ state: 'complete', length: v6.length, source: { address: '2001:db8::7', port: 1 } });
  });

  it('takes UNKNOWN as a header without a client address', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ state: 'complete', length: 15 });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'))).toMatchObject({ state: 'complete' });
  });

  it('asks for more bytes on every proper prefix', () => {
    for (let n = 0; n < V1_TCP4.length; n++) expect(parseProxyHeader(V1_TCP4.subarray(0, n)).state).toBe('incomplete');
  });

  it.each([
    ['PROXY TCP4 203.0.113.7 10.0.0.1 51234 65536\r\n', 'port out of range'],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 051234 21\r\n', 'leading zero'],
    ['PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n', 'IPv6 address in TCP4'],
    ['PROXY TCP6 203.0.113.7 10.0.0.1 1 2\r\n', 'IPv4 address in TCP6'],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 1 2 3\r\n', 'extra field'],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 1\r\n', 'missing port'],
    ['PROXY UDP4 203.0.113.7 10.0.0.1 1 2\r\n', 'unknown protocol'],
    ['PROXY TCP4 203.0.113.7\t10.0.0.1 1 2\r\n', 'control byte'],
    [`PROXY TCP4 ${'1'.repeat(120)}`, 'no CRLF in 107 bytes'],
  ])('refuses %j (%s)', (text) => {
    expect(parseProxyHeader(Buffer.from(text)).state).toBe('invalid');
  });
});

describe('parseProxyHeader v2', () => {
  it('reads TCP4 and TCP6 headers', () => {
    expect(parseProxyHeader(V2_TCP4)).toEqual({ state: 'complete', length: 28, source: { address: '198.51.100.9', port: 40000 } });
    const body = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000007', 'hex').copy(body, 0);
    body.writeUInt16BE(6000, 32);
    expect(parseProxyHeader(v2(1, 0x21, body))).toEqual({ state: 'complete', length: 52, source: { address: '2001:db8:0:0:0:0:0:7', port: 6000 } });
  });

  it('skips TLVs after the addresses', () => {
    const withTlv = v2(1, 0x11, Buffer.concat([tcp4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), Buffer.from([0x04, 0x00, 0x01, 0x00])]));
    expect(parseProxyHeader(withTlv)).toMatchObject({ state: 'complete', length: withTlv.length, source: { address: '1.2.3.4' } });
  });

  it('takes LOCAL and non-TCP families as headers without a client address', () => {
    expect(parseProxyHeader(v2(0, 0x11, tcp4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toEqual({ state: 'complete', length: 28 });
    expect(parseProxyHeader(v2(1, 0x00, Buffer.alloc(0)))).toEqual({ state: 'complete', length: 16 });
    expect(parseProxyHeader(v2(1, 0x31, Buffer.alloc(216)))).toEqual({ state: 'complete', length: 232 });
  });

  it('asks for more bytes on every proper prefix', () => {
    for (let n = 0; n < V2_TCP4.length; n++) expect(parseProxyHeader(V2_TCP4.subarray(0, n)).state).toBe('incomplete');
  });

  it('refuses bad versions, commands, short address blocks and oversized headers', () => {
    const badVersion = Buffer.from(V2_TCP4);
    badVersion[12] = 0x11;
    expect(parseProxyHeader(badVersion).state).toBe('invalid');
    expect(parseProxyHeader(v2(2, 0x11, tcp4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))).state).toBe('invalid');
    expect(parseProxyHeader(v2(1, 0x11, Buffer.alloc(8))).state).toBe('invalid');
    expect(parseProxyHeader(v2(1, 0x21, Buffer.alloc(20))).state).toBe('invalid');
    const huge = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
    expect(parseProxyHeader(huge).state).toBe('invalid');
  });
});

describe('parseProxyHeader without a header', () => {
  it.each(['SSH-2.0-OpenSSH_9.2\r\n', 'GET / HTTP/1.1\r\n', 'USER alice\r\n', 'PROXZ', '\r\n\r\nX'])('says absent for %j', (text) => {
    expect(parseProxyHeader(Buffer.from(text)).state).toBe('absent');
  });
});

describe('parseProxyHeader under fuzzing', () => {
  // Seeded (xorshift) so a failure reproduces.
  let seed = 0x2545f491;
  const random = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };

  it('never throws and never claims more bytes than it has, on random and mutated input', () => {
    const seeds = [V1_TCP4, V2_TCP4, Buffer.from('PROXY TCP6 ::1 ::1 1 2\r\n'), SIG];
    for (let i = 0; i < 20_000; i++) {
      let bytes: Buffer;
      if (i % 2 === 0) {
        bytes = Buffer.from(Array.from({ length: random(200) }, () => random(256)));
      } else {
        bytes = Buffer.from(seeds[random(seeds.length)]!);
        for (let m = random(4) + 1; m > 0 && bytes.length > 0; m--) bytes[random(bytes.length)] = random(256);
        bytes = bytes.subarray(0, random(bytes.length + 1));
      }
      const parsed = parseProxyHeader(bytes);
      expect(['incomplete', 'absent', 'invalid', 'complete']).toContain(parsed.state);
      if (parsed.state === 'complete') {
        expect(parsed.length).toBeLessThanOrEqual(Math.min(bytes.length, MAX_PROXY_HEADER_BYTES));
        expect(parsed.length).toBeGreaterThan(0);
      }
    }
  });
});

describe('trustList', () => {
  it('matches addresses and CIDR blocks, IPv4-mapped IPv6 included', () => {
    const trusted = trustList(['127.0.0.1', '10.1.0.0/16', '2001:db8::/32']);
    expect(trusted('127.0.0.1')).toBe(true);
    expect(trusted('::ffff:127.0.0.1')).toBe(true);
    expect(trusted('127.0.0.2')).toBe(false);
    expect(trusted('10.1.200.3')).toBe(true);
    expect(trusted('10.2.0.1')).toBe(false);
    expect(trusted('2001:db8:ffff::1')).toBe(true);
    expect(trusted('2001:db9::1')).toBe(false);
    expect(trusted('not-an-address')).toBe(false);
  });

  it.each(['127.0.0.1/33', 'example.com', '10.0.0.0/8/8', '::1/129', '10.0.0.0/x', ''])('refuses %j', (entry) => {
    expect(() => trustList([entry])).toThrow(/not an IP address or CIDR block/);
  });
});
