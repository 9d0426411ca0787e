FROM oven/bun:1.4-debian
WORKDIR /app
COPY package.json package-lock.json ./
RUN bun install --frozen-lockfile --production --ignore-scripts || bun install --production --ignore-scripts
COPY . .
EXPOSE 3000
CMD ["bun", "run", "app/main.ts"]
