# The c runtime: compile every .c file at the top of the function folder
# (fn.c defines tinyfaas_fn) and link it statically with libtinyfaas-c.a,
# which holds main(); then ship the handler alone, FROM scratch. Every
# instruction is a step of the engine's builder (about 0.1 s each), so the
# first stage lays out the final image's files under /out for one COPY.
FROM @BUILDER@ AS build
@LABELS@
COPY fn/ /out/fn/
# 2>&1: gcc's messages belong in the build stream the deployer sees. An
# undeclared function is an error, not a warning: statically linked it would
# fail at link time anyway, with a far less helpful message.
RUN cd /out/fn && gcc -O2 -Wall -Werror=implicit-function-declaration -static -s -I/opt/tinyfaas \
        -o /out/handler *.c /opt/tinyfaas/libtinyfaas-c.a -lmsgpackc -lpthread -lm 2>&1

FROM scratch
@LABELS@
COPY --from=build /out/ /
WORKDIR /fn
ENTRYPOINT ["/handler"]
