# PostgreSQL 15 from Debian's postgresql-15, for the compose test stack
# (make images; docker-compose.yml's JSMCP_POSTGRES_IMAGE). Behaves like the
# official postgres:15 image where docker-compose.yml relies on it:
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB create the cluster on
# first start, data in /var/lib/postgresql/data, port 5432, pg_isready.
ARG BASE_IMAGE=debian:12-slim
FROM ${BASE_IMAGE}
# No "main" cluster at install time, and no service start attempts.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/no-main.conf \
    && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       postgresql-15 >/dev/null \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# Fast shutdown, as the official image.
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres"]
