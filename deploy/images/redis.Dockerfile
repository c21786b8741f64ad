# Redis 7 from Debian's redis-server, for the compose test stack (make
# images; docker-compose.yml's JSMCP_REDIS_IMAGE). Like the official redis:7
# image: data in /data, port 6379, redis-cli, and "redis-server <args>"
# without a config file runs with protected mode off (the container's
# network is the boundary).
ARG BASE_IMAGE=debian:12-slim
FROM ${BASE_IMAGE}
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       redis-server >/dev/null \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["redis-entrypoint.sh"]
CMD ["redis-server"]
