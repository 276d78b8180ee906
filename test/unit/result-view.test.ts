import { describe, expect, it } from "vitest";
import { isJsonType, viewResult } from "../../src/result-view";

const utf8 = (s: string) => new TextEncoder().encode(s);

describe("isJsonType", () => {
  it.each([
    ["application/json", true],
    ["application/json; charset=utf-8", true],
    ["APPLICATION/JSON", true],
    ["  application/json  ;charset=utf-8", true],
    ["application/problem+json", true],
    ["application/vnd.api+json", true],
    ["application/ld+json; profile=x", true],
    ["text/json", false],
    ["application/jsonx", false],
    ["application/json-seq", false],
    ["text/plain", false],
    ["application/octet-stream", false],
    ["", false],
  ])("%j -> %s", (contentType, expected) => {
    expect(isJsonType(contentType)).toBe(expected);
  });
});

describe("viewResult", () => {
  it("parses application/json, without an encoding", () => {
    const view = viewResult(utf8('{"ok":true,"n":[1,2,3],"s":"é"}'), "application/json");
    expect(view).toEqual({ result: { ok: true, n: [1, 2, 3], s: "é" }, resultContentType: "application/json" });
    expect("resultEncoding" in view).toBe(false);
  });

  it("parses application/json with parameters and keeps the full content type", () => {
    expect(viewResult(utf8("[1,2]"), "application/json; charset=utf-8")).toEqual({
      result: [1, 2],
      resultContentType: "application/json; charset=utf-8",
    });
  });

  it("parses JSON scalars", () => {
    expect(viewResult(utf8("42"), "application/json").result).toBe(42);
    expect(viewResult(utf8('"hi"'), "application/json").result).toBe("hi");
    expect(viewResult(utf8("null"), "application/json").result).toBeNull();
    expect(viewResult(utf8("false"), "application/json").result).toBe(false);
  });

  it("parses +json types", () => {
    expect(viewResult(utf8('{"title":"x"}'), "application/problem+json")).toEqual({
      result: { title: "x" },
      resultContentType: "application/problem+json",
    });
    expect(viewResult(utf8('{"a":1}'), "application/vnd.acme.result+json; v=2").result).toEqual({ a: 1 });
  });

  it("shows an empty JSON body as null", () => {
    expect(viewResult(new Uint8Array(0), "application/json")).toEqual({
      result: null,
      resultContentType: "application/json",
    });
  });

  it("shows invalid JSON with a json type as text", () => {
    expect(viewResult(utf8("{not json"), "application/json")).toEqual({
      result: "{not json",
      resultEncoding: "text",
      resultContentType: "application/json",
    });
    expect(viewResult(utf8("oops"), "application/problem+json")).toEqual({
      result: "oops",
      resultEncoding: "text",
      resultContentType: "application/problem+json",
    });
  });

  it("shows text/* as text", () => {
    expect(viewResult(utf8("hello, wörld ✓"), "text/plain; charset=utf-8")).toEqual({
      result: "hello, wörld ✓",
      resultEncoding: "text",
      resultContentType: "text/plain; charset=utf-8",
    });
    expect(viewResult(utf8("<p>x</p>"), "text/html")).toEqual({
      result: "<p>x</p>",
      resultEncoding: "text",
      resultContentType: "text/html",
    });
    expect(viewResult(utf8("a,b\n1,2\n"), "TEXT/CSV")).toEqual({
      result: "a,b\n1,2\n",
      resultEncoding: "text",
      resultContentType: "TEXT/CSV",
    });
    expect(viewResult(utf8('{"a":1}'), "text/json")).toEqual({
      result: '{"a":1}',
      resultEncoding: "text",
      resultContentType: "text/json",
    });
  });

  it("shows an empty text body as an empty string", () => {
    expect(viewResult(new Uint8Array(0), "text/plain")).toEqual({
      result: "",
      resultEncoding: "text",
      resultContentType: "text/plain",
    });
  });

  it("shows binary as standard base64", () => {
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255, 0x89, 0x50, 0x4e, 0x47]);
    expect(viewResult(bytes, "image/png")).toEqual({
      result: "AAEC/f7/iVBORw==",
      resultEncoding: "base64",
      resultContentType: "image/png",
    });
    expect(Buffer.from("AAEC/f7/iVBORw==", "base64")).toEqual(Buffer.from(bytes));
  });

  it("shows application/octet-stream, XML and an empty content type as base64", () => {
    expect(viewResult(utf8("hi"), "application/octet-stream")).toEqual({
      result: "aGk=",
      resultEncoding: "base64",
      resultContentType: "application/octet-stream",
    });
    expect(viewResult(utf8("<a/>"), "application/xml")).toEqual({
      result: "PGEvPg==",
      resultEncoding: "base64",
      resultContentType: "application/xml",
    });
    expect(viewResult(utf8("x"), "")).toEqual({ result: "eA==", resultEncoding: "base64", resultContentType: "" });
  });

  it("roundtrips a large binary body through base64", () => {
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
    const view = viewResult(bytes, "application/octet-stream");
    expect(view.resultEncoding).toBe("base64");
    expect(new Uint8Array(Buffer.from(view.result as string, "base64"))).toEqual(bytes);
  });
});
