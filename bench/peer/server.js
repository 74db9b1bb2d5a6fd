// The `peer` baseline: a minimal Socket.IO server on Node.js (the official `socket.io` package)
// that speaks just what the bench clients say. It emits each chat message to the room as it
// arrives, with no coalescing: what a straightforward Socket.IO live room does.
//
//   node bench/peer/server.js PORT
"use strict";

const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const io = new Server(port, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
});

io.on("connection", (socket) => {
  let room = null;
  socket.on("join", (data, ack) => {
    room = `show:${data.show_id}`;
    socket.join(room);
    if (typeof ack === "function") ack({ ok: true, snapshot: { seq: 0 } });
  });
  socket.on("chat", (data, ack) => {
    if (room !== null) {
      io.to(room).emit("frame", { events: [{ type: "chat", text: String(data.text) }] });
    }
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("pin", (data, ack) => {
    if (room !== null) {
      io.to(room).emit("frame", { events: [{ type: "pin", product_id: data.product_id }] });
    }
    if (typeof ack === "function") ack({ ok: true });
  });
});

console.log(`peer listening on ${port}`);
