import { describe, it, expect } from "vitest";
import { createHmac } from "node:crypto";
import { Receiver } from "@upstash/qstash";
import { generateSigningKey, signDelivery, verifyDelivery } from "../../src/protocol/signature.js";

const KEY = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r";
const NEXT_KEY = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs";
const URL_ = "https://example.com/api/hook?a=1";
const NOW = Date.UTC(2024, 0, 15, 12, 0, 0) + 789; // mid-second, to check flooring
const IAT = Math.floor(NOW / 1000);
const utf8 = (text: string) => new TextEncoder().encode(text);

function decodeSegment(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** Builds an arbitrary HS256-signed token, for claims or headers signDelivery never produces. */
function forge(header: object, claims: object, key = KEY): string {
  const input = [header, claims].map((part) => Buffer.from(JSON.stringify(part)).toString("base64url")).join(".");
  return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

describe("signDelivery", () => {
  const token = signDelivery({ signingKey: KEY, url: URL_, body: utf8("hello"), nowMs: NOW });
  const [header, payload, signature] = token.split(".");

  it("uses exactly the standard HS256 header", () => {
    expect(Buffer.from(header, "base64url").toString()).toBe('{"alg":"HS256","typ":"JWT"}');
  });

  it("emits the claims in QStash's order with numeric times", () => {
    const claims = decodeSegment(payload);
    expect(Object.keys(claims)).toEqual(["iss", "sub", "exp", "nbf", "iat", "jti", "body"]);
    expect(claims).toMatchObject({ iss: "Upstash", sub: URL_, iat: IAT, nbf: IAT, exp: IAT + 300 });
    expect(claims.jti).toMatch(/^jwt_[0-9a-f]{32}$/);
  });

  it("keeps base64url segments unpadded and signs with the key string's UTF-8 bytes", () => {
    for (const segment of [header, payload, signature]) expect(segment).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(signature).toBe(createHmac("sha256", Buffer.from(KEY, "utf8")).update(`${header}.${payload}`).digest("base64url"));
  });

  // Expected values computed independently: printf … | openssl dgst -sha256 -binary | base64 | tr '+/' '-_'
  it.each([
    ["empty body", new Uint8Array(), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="],
    ["hello", utf8("hello"), "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="],
    ["bytes whose hash needs _", Uint8Array.from([0xfb, 0xff]), "24_tVBWa_kCs5bSdcCJZ_YjJxACTBxgYJEh7qrXGveo="],
  ])("hashes the body (%s) as padded base64url", (_label, body, expected) => {
    const claims = decodeSegment(signDelivery({ signingKey: KEY, url: URL_, body, nowMs: NOW }).split(".")[1]);
    expect(claims.body).toBe(expected);
  });

  it.each([
    [undefined, IAT],
    [0, IAT],
    [30, IAT - 30],
  ])("nbfSkewSeconds %j → nbf %d", (skew, nbf) => {
    const token = signDelivery({ signingKey: KEY, url: URL_, body: new Uint8Array(), nowMs: NOW, nbfSkewSeconds: skew });
    expect(decodeSegment(token.split(".")[1]).nbf).toBe(nbf);
  });

  it("gives every token a fresh jti", () => {
    const jtis = new Set(
      Array.from({ length: 50 }, () =>
        decodeSegment(signDelivery({ signingKey: KEY, url: URL_, body: new Uint8Array(), nowMs: NOW }).split(".")[1]).jti,
      ),
    );
    expect(jtis.size).toBe(50);
  });
});

describe("verifyDelivery", () => {
  const body = utf8("payload");
  const token = signDelivery({ signingKey: KEY, url: URL_, body, nowMs: NOW, nbfSkewSeconds: 5 });
  const claims = decodeSegment(token.split(".")[1]);
  const [h, p, s] = token.split(".");

  it.each<[string, string, string[], Parameters<typeof verifyDelivery>[2], boolean]>([
    ["valid, no extra checks", token, [KEY], { nowMs: NOW }, true],
    ["valid with url and body", token, [KEY], { nowMs: NOW, url: URL_, body }, true],
    ["rotation: second key signs", token, [NEXT_KEY, KEY], { nowMs: NOW }, true],
    ["wrong key", token, [NEXT_KEY], { nowMs: NOW }, false],
    ["no keys", token, [], { nowMs: NOW }, false],
    ["last second before exp", token, [KEY], { nowMs: (IAT + 299) * 1000 + 999 }, true],
    ["at exp", token, [KEY], { nowMs: (IAT + 300) * 1000 }, false],
    ["inside the nbf skew", token, [KEY], { nowMs: (IAT - 5) * 1000 }, true],
    ["before nbf", token, [KEY], { nowMs: (IAT - 5) * 1000 - 1 }, false],
    ["defaults to the real clock (token from 2024 has expired)", token, [KEY], {}, false],
    ["wrong url", token, [KEY], { nowMs: NOW, url: "https://example.com/other" }, false],
    ["tampered body", token, [KEY], { nowMs: NOW, body: utf8("payloaD") }, false],
    ["empty body against non-empty hash", token, [KEY], { nowMs: NOW, body: new Uint8Array() }, false],
    ["hash claim without padding", forge({ alg: "HS256", typ: "JWT" }, { ...claims, body: String(claims.body).replace(/=+$/, "") }), [KEY], { nowMs: NOW, body }, true],
    ["tampered payload", `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: "https://evil.example" })).toString("base64url")}.${s}`, [KEY], { nowMs: NOW }, false],
    ["signature with a stray character", `${h}.${p}.${s}A`, [KEY], { nowMs: NOW }, false],
    ["signature with padding", `${h}.${p}.${s}=`, [KEY], { nowMs: NOW }, false],
    ["two segments", `${h}.${p}`, [KEY], { nowMs: NOW }, false],
    ["four segments", `${token}.x`, [KEY], { nowMs: NOW }, false],
    ["garbage", "not a token", [KEY], { nowMs: NOW }, false],
    ["empty", "", [KEY], { nowMs: NOW }, false],
    ["alg none", `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${p}.`, [KEY], { nowMs: NOW }, false],
    ["signed but alg says HS512", forge({ alg: "HS512", typ: "JWT" }, claims), [KEY], { nowMs: NOW }, false],
    ["signed but wrong issuer", forge({ alg: "HS256", typ: "JWT" }, { ...claims, iss: "Someone" }), [KEY], { nowMs: NOW }, false],
    ["signed but exp is a string", forge({ alg: "HS256", typ: "JWT" }, { ...claims, exp: String(claims.exp) }), [KEY], { nowMs: NOW }, false],
    ["signed but nbf missing", forge({ alg: "HS256", typ: "JWT" }, { ...claims, nbf: undefined }), [KEY], { nowMs: NOW }, false],
    ["signed but body claim missing", forge({ alg: "HS256", typ: "JWT" }, { ...claims, body: undefined }), [KEY], { nowMs: NOW, body }, false],
    ["signed but payload is not an object", forge({ alg: "HS256", typ: "JWT" }, [1, 2]), [KEY], { nowMs: NOW }, false],
  ])("%s → %s", (_label, candidate, keys, opts, expected) => {
    expect(verifyDelivery(candidate, keys, opts)).toBe(expected);
  });

  it("rejects a signed payload that is not JSON", () => {
    const input = `${h}.${Buffer.from("{oops").toString("base64url")}`;
    const bad = `${input}.${createHmac("sha256", KEY).update(input).digest("base64url")}`;
    expect(verifyDelivery(bad, [KEY], { nowMs: NOW })).toBe(false);
  });
});

describe("signDelivery against the official @upstash/qstash Receiver", () => {
  const receiver = new Receiver({ currentSigningKey: KEY, nextSigningKey: NEXT_KEY, devMode: false });
  const sign = (signingKey: string, body: Uint8Array, nbfSkewSeconds?: number) =>
    signDelivery({ signingKey, url: URL_, body, nowMs: Date.now(), nbfSkewSeconds });
  // Every byte 0x00–0x7F plus multi-byte characters: binary-looking, yet a lossless string for the Receiver.
  const binary = Uint8Array.from([...Array.from({ length: 128 }, (_, i) => i), ...utf8("é€😀")]);

  it.each([
    ["current key", KEY, utf8('{"hello":"world"}'), '{"hello":"world"}'],
    ["next key (rotation)", NEXT_KEY, utf8('{"hello":"world"}'), '{"hello":"world"}'],
    ["empty body", KEY, new Uint8Array(), ""],
    ["binary body as a string", KEY, binary, Buffer.from(binary).toString("utf8")],
  ])("accepts a token signed with the %s", async (_label, key, body, bodyText) => {
    await expect(receiver.verify({ signature: sign(key, body), body: bodyText, url: URL_ })).resolves.toBe(true);
    await expect(receiver.verify({ signature: sign(key, body), body: bodyText })).resolves.toBe(true);
  });

  it("accepts a token whose nbf is backdated by the skew allowance", async () => {
    await expect(receiver.verify({ signature: sign(KEY, utf8("x"), 60), body: "x" })).resolves.toBe(true);
  });

  it.each([
    ["a tampered body", KEY, "hello", "hellO", URL_],
    ["an empty body when one was signed", KEY, "hello", "", URL_],
    ["a different url", KEY, "hello", "hello", "https://example.com/other"],
    ["an unknown key", "sig_NotOneOfTheReceiversKeys0000", "hello", "hello", URL_],
  ])("rejects %s", async (_label, key, signedBody, sentBody, url) => {
    await expect(receiver.verify({ signature: sign(key, utf8(signedBody)), body: sentBody, url })).rejects.toThrow();
  });

  it("cannot verify bodies that are not valid UTF-8 (the Receiver re-encodes the string it is given)", async () => {
    const bytes = Uint8Array.from([0xff, 0xfe, 0x00, 0x80]);
    await expect(receiver.verify({ signature: sign(KEY, bytes), body: Buffer.from(bytes).toString("utf8") })).rejects.toThrow(
      /body hash does not match/,
    );
    expect(verifyDelivery(sign(KEY, bytes), [KEY], { body: bytes })).toBe(true);
  });
});

describe("generateSigningKey", () => {
  it("looks like a vendor key and is unique", () => {
    const keys = Array.from({ length: 200 }, generateSigningKey);
    for (const key of keys) expect(key).toMatch(/^sig_[1-9A-HJ-NP-Za-km-z]{28}$/);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("produces keys that sign verifiable tokens", () => {
    const key = generateSigningKey();
    const token = signDelivery({ signingKey: key, url: URL_, body: utf8("x"), nowMs: NOW });
    expect(verifyDelivery(token, [key], { nowMs: NOW, url: URL_, body: utf8("x") })).toBe(true);
  });
});
