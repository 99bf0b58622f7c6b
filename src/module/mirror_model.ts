/**
 * Viam's side of the mirror: the model name (`viam-soleng:data:mirror`) and the resource APIs it is
 * served under, as `Ready`'s handler map and `meta.json` declare them.
 *
 * @module
 */
import type { ServiceType } from "@bufbuild/protobuf";
import { VIAM_SERVICES } from "./viam_services.ts";

export { MIRROR_MODEL } from "../config.ts";

/** One resource API the module serves the mirror under. */
export interface MirrorApi {
  /** The API triplet, as `ComponentConfig.api` carries it. */
  readonly api: "rdk:service:generic" | "rdk:component:generic";
  /** `service` or `component`: the triplet's middle part. */
  readonly type: "service" | "component";
  /** The gRPC service that API's resources are reached through. */
  readonly service: ServiceType;
}

/**
 * The APIs the mirror is served under. The original module registered a generic service but its README
 * said to add a generic component: both exist in the field, so both are served.
 */
export const MIRROR_APIS: readonly MirrorApi[] = [
  { api: "rdk:service:generic", type: "service", service: VIAM_SERVICES.genericService },
  { api: "rdk:component:generic", type: "component", service: VIAM_SERVICES.genericComponent },
];
