# type: decision
# hook: mcp_admit
# class: scalar-only
# why: denies calls whose arg_bytes exceed 1024, through a bounded comparison of a number only
# ctx: tool=0x1234,client=7,arg_bytes=4096
# r0: 0x1
ldxdw %r2, [%r1+32]
mov %r0, 0
jle %r2, 1024, done
mov %r0, 1
done:
exit
