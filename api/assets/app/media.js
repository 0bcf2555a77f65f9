// The camera, the signature pad and the barcode scanner: photos are compressed on the device (canvas,
// JPEG, at most 1600 px) and addressed by their SHA-256, as `PUT /v1/photos/{sha256}` wants them.

/** Lower-case hex SHA-256 of a blob's bytes. */
export async function sha256(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function toBlob(canvas, type, quality) {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("no image"))), type, quality));
}

/** A picture from the camera (or a file) made smaller: JPEG, the longer side at most `max` pixels. */
export async function compress(file, max = 1600) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, max / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return toBlob(canvas, "image/jpeg", 0.8);
}

/** Lets a finger (or a mouse) draw on `canvas`; returns `{empty(), clear(), png()}`. */
export function signaturePad(canvas) {
  const g = canvas.getContext("2d");
  let drawing = false;
  let strokes = 0;
  const clear = () => {
    g.fillStyle = "#fff";
    g.fillRect(0, 0, canvas.width, canvas.height);
    strokes = 0;
  };
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height)];
  };
  clear();
  g.lineWidth = 3;
  g.lineCap = "round";
  g.strokeStyle = "#1a1a1a";
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    const [x, y] = at(e);
    g.beginPath();
    g.moveTo(x, y);
    g.lineTo(x + 0.1, y + 0.1);
    g.stroke();
    strokes++;
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const [x, y] = at(e);
    g.lineTo(x, y);
    g.stroke();
  });
  const end = () => { drawing = false; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  return { empty: () => strokes === 0, clear, png: () => toBlob(canvas, "image/png") };
}

/** Whether the browser can read barcodes from the camera. */
export const canScan = () => "BarcodeDetector" in window && !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

/** Reads one barcode with the camera into `video`; resolves with its text (or null when stopped). */
export async function scan(video, stopSignal) {
  // eslint-disable-next-line no-undef
  const detector = new BarcodeDetector();
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  video.srcObject = stream;
  await video.play();
  try {
    while (!stopSignal.stopped) {
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length) return codes[0].rawValue;
      await new Promise((r) => setTimeout(r, 250));
    }
    return null;
  } finally {
    stream.getTracks().forEach((tr) => tr.stop());
    video.srcObject = null;
  }
}
