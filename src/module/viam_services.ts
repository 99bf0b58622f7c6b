/**
 * The Viam gRPC services the module serves or calls, built from the descriptors in `src/gen/`.
 *
 * @module
 */
import type { ServiceType } from "@bufbuild/protobuf";
import { viamService as _service } from "../viam_api.ts";

/** The gRPC services the module serves or calls, as connect v1 service types. */
export const VIAM_SERVICES: {
  /** `viam.module.v1.ModuleService`: how viam-server drives the module. */
  readonly module: ServiceType;
  /** `viam.service.generic.v1.GenericService`: the API the original module registered. */
  readonly genericService: ServiceType;
  /** `viam.component.generic.v1.GenericService`: the API the original README documented. */
  readonly genericComponent: ServiceType;
  /** `grpc.reflection.v1alpha.ServerReflection`: what viam-server resolves handlers through. */
  readonly reflectionV1alpha: ServiceType;
  /** `grpc.reflection.v1.ServerReflection`: the current name of the same service. */
  readonly reflectionV1: ServiceType;
  /** `viam.robot.v1.RobotService`: the parent's service; the module calls only its `Log`. */
  readonly robot: ServiceType;
} = {
  module: _service("viam.module.v1.ModuleService"),
  genericService: _service("viam.service.generic.v1.GenericService"),
  genericComponent: _service("viam.component.generic.v1.GenericService"),
  reflectionV1alpha: _service("grpc.reflection.v1alpha.ServerReflection"),
  reflectionV1: _service("grpc.reflection.v1.ServerReflection"),
  robot: _service("viam.robot.v1.RobotService"),
};
