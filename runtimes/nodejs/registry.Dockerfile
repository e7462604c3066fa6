# The base image when the operator opts into registry images: node from the
# registry's node:20-alpine, @msgpack/msgpack from the npm registry (the same
# pinned version as build-context.sh), and the handler. The context is this
# runtime folder.
FROM node:20-alpine
RUN mkdir -p /opt/tinyfaas && cd /opt/tinyfaas && \
    npm install --no-audit --no-fund --ignore-scripts --omit=dev --no-package-lock @msgpack/msgpack@3.1.3 && \
    rm -rf /root/.npm
COPY handler.js /opt/tinyfaas/handler.js
ENV NODE_ENV=production TINYFAAS_PORT=8000 TINYFAAS_FN_DIR=/fn
WORKDIR /fn
EXPOSE 8000
ENTRYPOINT ["node", "/opt/tinyfaas/handler.js"]
