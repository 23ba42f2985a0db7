export { decodeJsonRequest, decodeJsonValue, parseOtlpJson } from './decode-json.ts';
export {
  decodeExportResponseProtobuf,
  decodeProtobufRequest,
  decodeStatusProtobuf,
  encodeExportRequest,
  encodeExportResponseProtobuf,
  encodeStatusProtobuf,
} from './decode-protobuf.ts';
export type { PartialSuccess, RpcStatusBody } from './decode-protobuf.ts';
export {
  createOtlpHandler,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  encodingOf,
  OTLP_TRACES_PATH,
  otlpRouter,
  SinkOverloadedError,
} from './receiver.ts';
export type { ReceiverOptions, SinkResult, SpanSink, SpanSource } from './receiver.ts';
export {
  DEFAULT_DECODE_LIMITS,
  OtlpDecodeError,
  SPAN_KIND_CLIENT,
  SPAN_KIND_CONSUMER,
  SPAN_KIND_INTERNAL,
  SPAN_KIND_PRODUCER,
  SPAN_KIND_SERVER,
  SPAN_KIND_UNSPECIFIED,
} from './types.ts';
export type {
  AttrValue,
  Attributes,
  DecodeLimits,
  DecodeOptions,
  DecodeResult,
  SpanRecord,
  SpanRejectReason,
} from './types.ts';
