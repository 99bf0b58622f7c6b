/**
 * The sample data set of `deno task platform` and the demo.
 *
 * @module
 */

import { describeDataset } from "./describe_dataset.ts";
import type { PlatformDataset } from "./item_record.ts";

/** The id of the sample's one dataset (every other front-camera image). */
export const SAMPLE_DATASET_ID = "6f1d2c3b4a5e6d7c8b9a0f1e";

/**
 * 310 small images (2 to 34 KiB, JPEG and PNG headers) in the styles found in the field:
 * - 120 `cameras/front/2025-01-0{1,2,3}/*.jpeg`, tagged `demo` (every fourth also `night`),
 *   boxes labelled `person` or `car`, half of them in {@linkcode SAMPLE_DATASET_ID};
 * - 80 `cameras/rear/2025-01-0{1,2}/*.png`, tagged `demo` and `rear`, some labelled `dog`;
 * - 60 unnamed captures (empty `file_name`), tagged `demo` and `raw`;
 * - 30 with absolute names (`/home/pi/captures/*`), tagged `demo` and `synced`;
 * - 20 without extension in `file_name` (only in `file_ext`), tagged `demo` and `upload`.
 */
export function sampleDataset(): PlatformDataset {
  const size = (index: number): number => 2048 + (index * 2749) % 32768;
  return describeDataset([
    {
      name: "front",
      count: 120,
      folder: (i) => `cameras/front/2025-01-0${1 + i % 3}`,
      sizeBytes: size,
      tags: (i) => i % 4 === 0 ? ["demo", "night"] : ["demo"],
      bboxLabels: (i) => i % 3 === 0 ? ["person"] : i % 3 === 1 ? ["car", "person"] : [],
      datasetIds: (i) => i % 2 === 0 ? [SAMPLE_DATASET_ID] : [],
    },
    {
      name: "rear",
      count: 80,
      folder: (i) => `cameras/rear/2025-01-0${1 + i % 2}`,
      mimeType: "image/png",
      sizeBytes: size,
      tags: ["demo", "rear"],
      bboxLabels: (i) => i % 5 === 0 ? ["dog"] : [],
    },
    { name: "capture", count: 60, naming: "unnamed", sizeBytes: size, tags: ["demo", "raw"] },
    {
      name: "synced",
      count: 30,
      naming: "absolute",
      mimeType: (i) => i % 2 === 0 ? "image/jpeg" : "image/png",
      sizeBytes: size,
      tags: ["demo", "synced"],
    },
    {
      name: "upload",
      count: 20,
      naming: "no-extension",
      mimeType: "image/png",
      sizeBytes: size,
      tags: ["demo", "upload"],
    },
  ], { datasets: [{ id: SAMPLE_DATASET_ID, name: "demo-training" }] });
}
