# One image, several entrypoints: `weft operator`, `weft controlplane`, `weft proxy ...`, and `weftctl`.
# Build stage has a compiler for the SO_ORIGINAL_DST addon; the runtime stage is node:24-slim.
FROM node:24 AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY native ./native
RUN npx tsc -p tsconfig.json && if [ -f native/build.sh ]; then bash native/build.sh; fi \
 && npm prune --omit=dev

FROM node:24-slim
# iptables for the `weft proxy iptables` init container (runs as root with NET_ADMIN only there).
RUN apt-get update && apt-get install -y --no-install-recommends iptables ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd -g 1337 weft && useradd -u 1337 -g 1337 -M -s /usr/sbin/nologin weft
WORKDIR /opt/weft
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/build ./build
COPY manifests ./manifests
# 1337 is the proxy UID that the iptables rules exclude from capture.
USER 1337:1337
ENTRYPOINT ["node", "/opt/weft/dist/src/cmd/weft.js"]
CMD ["--help"]
