# agentlog: build the TypeScript, then run it on Node 22 LTS as a non-root user with the database on a volume.
FROM node:22-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig*.json ./
COPY src ./src
COPY db ./db
COPY plugins ./plugins
COPY routes ./routes
COPY bench ./bench
COPY bin ./bin
COPY web ./web
# npm ci runs the build (the prepare script); the runtime needs only the dependencies
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV HOST=0.0.0.0 \
    PORT=7700 \
    DATABASE_PATH=/data/agentlog.db
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/web/static ./web/static
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 7700
# liveness: the process answers; readiness (/health/ready) stays for load balancers, which should stop sending
# traffic while the write queue is full rather than have the container restarted
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/agentlog.js", "serve"]
